// Package keepalive sets keep-alive on a connection as a Go programmer would: setsockopt on the
// raw descriptor (Go's own SetKeepAlivePeriod sets idle and interval to the same value, and not
// the count).
package keepalive

import (
	"net"
	"syscall"
)

// Set turns keep-alive on with idle and interval in seconds and count probes.
func Set(c *net.TCPConn, idle, intvl, cnt int) {
	raw, _ := c.SyscallConn()
	raw.Control(func(fd uintptr) {
		s := int(fd)
		syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, idle)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, intvl)
		syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, 6 /* TCP_KEEPCNT */, cnt)
	})
}
