package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// idleResult is what the idle-connections scenario measured.
type idleResult struct {
	Requested int    `json:"requested_conns"`
	Conns     int    `json:"conns"`
	FitNote   string `json:"fit_note,omitempty"`
	FDLimit   int    `json:"proxy_fd_limit"`
	FDsBefore int    `json:"proxy_fds_before"`
	FDsAfter  int    `json:"proxy_fds_after"`
	// UpstreamDial is "eager" when accepting a connection opens its
	// upstream connection before the client sends anything.
	UpstreamDial   string  `json:"upstream_dial"`
	ConnectSeconds float64 `json:"connect_seconds"`
	SettleSeconds  float64 `json:"settle_seconds"`

	RSSBefore     int64   `json:"rss_before_bytes"`
	RSSAfter      int64   `json:"rss_after_bytes"`
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	TargetKiB     float64 `json:"target_kib"`
	WithinTarget  bool    `json:"within_target"`

	// From the proxy's own /metrics (go_memstats_*, go_goroutines).
	HeapInusePerConnKiB  float64 `json:"heap_inuse_per_conn_kib"`
	StackInusePerConnKiB float64 `json:"stack_inuse_per_conn_kib"`
	GoroutinesBefore     int     `json:"goroutines_before"`
	GoroutinesAfter      int     `json:"goroutines_after"`
	GoroutinesPerConn    float64 `json:"goroutines_per_conn"`
	ActiveConns          int     `json:"proxy_connections_active"`
}

// fdMargin is the proxy's headroom beyond its baseline descriptors: the
// admin connections scrapes open, and a node listener opened late.
const fdMargin = 8

// runIdle opens conns client connections to a fresh proxy, each sending
// ApiVersions and reading the answer, leaves them idle for settle, and
// measures the proxy's memory per connection.
func runIdle(ctx context.Context, c config, up *upstream) (idleResult, error) {
	r := idleResult{Requested: c.Conns, TargetKiB: 32, SettleSeconds: c.Settle.Seconds()}
	p, err := startProxy(ctx, c.ProxyBin, up.addr, 64)
	if err != nil {
		return r, err
	}
	defer p.stop()

	// Warm up: one full connection, so one-time allocations (version
	// tables, the first rewrite) are in the baseline, not in the figure.
	if err := oneConn(p.listen, true, nil); err != nil {
		return r, fmt.Errorf("warm-up connection: %w", err)
	}
	if err := waitActive(p, 0); err != nil {
		return r, err
	}
	if r.UpstreamDial, err = dialMode(p, up.addr); err != nil {
		return r, err
	}
	if r.FDLimit, err = fdLimit(p.pid); err != nil {
		return r, err
	}
	before, err := p.scrape()
	if err != nil {
		return r, err
	}
	if r.RSSBefore, err = proc.RSS(p.pid); err != nil {
		return r, err
	}
	if r.FDsBefore, err = proc.FDs(p.pid); err != nil {
		return r, err
	}
	r.Conns = c.Conns
	if need := 2*c.Conns + r.FDsBefore + fdMargin; need > r.FDLimit {
		r.Conns = (r.FDLimit - r.FDsBefore - fdMargin) / 2
		r.FitNote = fmt.Sprintf("%d connections need %d proxy fds (2 per connection: client and upstream, + %d open + %d margin), above its limit of %d; ran %d",
			c.Conns, need, r.FDsBefore, fdMargin, r.FDLimit, r.Conns)
	}

	conns := make([]net.Conn, r.Conns)
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	}()
	start := time.Now()
	if err := dialAll(ctx, p.listen, conns, c.DialConcurrency); err != nil {
		return r, err
	}
	r.ConnectSeconds = time.Since(start).Seconds()

	// Every pair is up once the proxy counts them all.
	if err := waitActive(p, r.Conns); err != nil {
		return r, err
	}
	select {
	case <-time.After(c.Settle):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	if err := p.alive(); err != nil {
		return r, err
	}
	after, err := p.scrape()
	if err != nil {
		return r, err
	}
	if r.RSSAfter, err = proc.RSS(p.pid); err != nil {
		return r, err
	}
	if r.FDsAfter, err = proc.FDs(p.pid); err != nil {
		return r, err
	}
	n := float64(r.Conns)
	r.RSSPerConnKiB = float64(r.RSSAfter-r.RSSBefore) / n / 1024
	r.WithinTarget = r.RSSPerConnKiB <= r.TargetKiB
	r.HeapInusePerConnKiB = (after["go_memstats_heap_inuse_bytes"] - before["go_memstats_heap_inuse_bytes"]) / n / 1024
	r.StackInusePerConnKiB = (after["go_memstats_stack_inuse_bytes"] - before["go_memstats_stack_inuse_bytes"]) / n / 1024
	r.GoroutinesBefore = int(before["go_goroutines"])
	r.GoroutinesAfter = int(after["go_goroutines"])
	r.GoroutinesPerConn = float64(r.GoroutinesAfter-r.GoroutinesBefore) / n
	r.ActiveConns = int(after[activeSeries])
	return r, nil
}

const activeSeries = `schemaproxy_connections_active{listener="bootstrap"}`

// waitActive polls the proxy's count of open bootstrap connections until
// it is n, for up to 30s.
func waitActive(p *proxyProc, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := p.scrape()
		if err != nil {
			return err
		}
		got := int(s[activeSeries])
		if got == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("proxy counts %d open connections, want %d", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dialAll fills conns with connections to addr that have each done one
// ApiVersions round trip, workers at a time.
func dialAll(ctx context.Context, addr string, conns []net.Conn, workers int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				if err := oneConn(addr, false, &conns[i]); err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// oneConn dials addr and does one ApiVersions round trip. The connection
// is stored in *keep, or closed when closeAfter is set.
func oneConn(addr string, closeAfter bool, keep *net.Conn) error {
	cn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	cn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := roundTrip(cn, apiVersionsFrame(1), 1); err != nil {
		cn.Close()
		return err
	}
	cn.SetDeadline(time.Time{})
	if closeAfter || keep == nil {
		return cn.Close()
	}
	*keep = cn
	return nil
}

// dialMode opens one connection that sends nothing and counts the
// proxy's sockets connected to the upstream: one more means the upstream
// is dialled on accept, before the first request.
func dialMode(p *proxyProc, upstream string) (string, error) {
	_, ps, err := net.SplitHostPort(upstream)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return "", err
	}
	base, err := connsTo(p.pid, port)
	if err != nil {
		return "", err
	}
	cn, err := net.DialTimeout("tcp", p.listen, 10*time.Second)
	if err != nil {
		return "", err
	}
	mode := "lazy (no upstream connection before the first request)"
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n, err := connsTo(p.pid, port); err == nil && n > base {
			mode = "eager (upstream dialled on accept, before any request)"
			break
		}
	}
	cn.Close()
	return mode, waitActive(p, 0)
}
