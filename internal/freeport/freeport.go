// Package freeport finds runs of free loopback TCP ports for the proxy's
// tests and the bench tools: a listen address and, after it, the ports a
// proxy gives its brokers. It only checks that the ports are free at the
// time; it reserves nothing.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// Find finds a loopback listen address and a broker port base with n free
// ports after it (n may be 0: the address alone). It searches below the
// kernel's ephemeral range (32768 and up on Linux), where kernel-chosen
// ports (kfake's and real brokers' listeners, outgoing connections) never
// land, so a run it found stays free. It is safe for concurrent use.
func Find(n int) (listen string, base int, err error) {
	for range 100 {
		start := 20000 + rand.IntN(12000-n)
		var lns []net.Listener
		ok := true
		for i := 0; i <= n; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(start+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return "127.0.0.1:" + strconv.Itoa(start), start + 1, nil
		}
	}
	return "", 0, fmt.Errorf("no run of %d free ports found on 127.0.0.1", n+1)
}
