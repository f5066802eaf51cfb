module tcpka/bench

go 1.19
