package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// idleDialers is how many idle connections are being opened at once.
const idleDialers = 32

// runIdle opens c.Conns connections, has each send one ApiVersions (so the
// proxy has dialled its upstream) and checks the answer, prints
// "ready N", then holds them without a byte more until stdin ends.
func runIdle(ctx context.Context, c config, in *bufio.Reader, stdout io.Writer) error {
	conns := make([]net.Conn, c.Conns)
	defer func() {
		for _, conn := range conns {
			if conn != nil {
				conn.Close()
			}
		}
	}()
	next := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(next)
		for i := range conns {
			select {
			case next <- i:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	var mu sync.Mutex
	for range min(idleDialers, len(conns)) {
		g.Go(func() error {
			for i := range next {
				conn, err := dialRetry(gctx, c.Addr)
				if err != nil {
					return fmt.Errorf("idle connection %d: %w", i, err)
				}
				mu.Lock()
				conns[i] = conn
				mu.Unlock()
				if err := apiVersions(conn, int32(i)); err != nil {
					return fmt.Errorf("idle connection %d: %w", i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ready %d\n", len(conns))
	ctx, cancel := untilEOF(ctx, in)
	defer cancel()
	<-ctx.Done()
	return nil
}

// dialRetry dials addr, retrying for up to ten seconds: a burst of
// connections can overflow the listener's backlog.
func dialRetry(ctx context.Context, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
