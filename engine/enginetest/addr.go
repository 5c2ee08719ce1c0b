package enginetest

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address (host:port) with a port nobody
// listens on right now, for a server that must know its address before it
// starts (a tenant whose redirect URIs name it).
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
