package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestFind(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 4} {
		listen, base, err := Find(n)
		if err != nil {
			t.Fatal(err)
		}
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		if host != "127.0.0.1" || base != p+1 || p < 20000 || base+n > 32768 {
			t.Errorf("Find(%d) = %s, %d: want 127.0.0.1, a port from 20000 and the next as base", n, listen, base)
		}
	}
}
