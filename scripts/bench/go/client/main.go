// The bench's reference client: the leanest Go program doing tcpka client's job. Opens N
// connections at once, sets keep-alive idle/interval/count with setsockopt on each, and keeps a
// 1-byte read pending on each, nothing else.
//
//	client HOST:PORT N IDLE_S INTERVAL_S COUNT
//
// Prints "opened N MICROS" once all N are open with keep-alive set.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"tcpka/bench/keepalive"
)

func hold(c net.Conn) {
	buf := make([]byte, 1)
	for {
		if _, err := c.Read(buf); err != nil {
			c.Close()
			return
		}
	}
}

func main() {
	addr := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	idle, _ := strconv.Atoi(os.Args[3])
	intvl, _ := strconv.Atoi(os.Args[4])
	cnt, _ := strconv.Atoi(os.Args[5])
	var opened sync.WaitGroup
	opened.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			keepalive.Set(c.(*net.TCPConn), idle, intvl, cnt)
			// A fresh goroutine for the read: the dialing one has grown its stack, and keeping it
			// would cost about 4 KB more per connection (measured).
			go hold(c)
			opened.Done()
		}()
	}
	opened.Wait()
	fmt.Printf("opened %d %d\n", n, time.Since(start).Microseconds())
	select {}
}
