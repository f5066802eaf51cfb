// The bench's reference server: the leanest Go program doing tcpka server's job on idle
// connections. Keep-alive idle/interval/count set with setsockopt on every accepted connection,
// one goroutine per connection with a 1-byte read pending (echoing what it reads), nothing else.
//
//	server IDLE_S INTERVAL_S COUNT EXPECT
//
// Prints "listening PORT", then "accepted EXPECT" once it holds EXPECT connections.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"tcpka/bench/keepalive"
)

func hold(c *net.TCPConn) {
	buf := make([]byte, 1)
	for {
		n, err := c.Read(buf)
		if err != nil {
			c.Close()
			return
		}
		c.Write(buf[:n])
	}
}

func main() {
	idle, _ := strconv.Atoi(os.Args[1])
	intvl, _ := strconv.Atoi(os.Args[2])
	cnt, _ := strconv.Atoi(os.Args[3])
	expect, _ := strconv.Atoi(os.Args[4])
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening %d\n", l.Addr().(*net.TCPAddr).Port)
	for accepted := 0; ; {
		c, err := l.AcceptTCP()
		if err != nil {
			continue
		}
		keepalive.Set(c, idle, intvl, cnt)
		if accepted++; accepted == expect {
			fmt.Printf("accepted %d\n", accepted)
		}
		go hold(c)
	}
}
