package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// slowResult is what one run of the never-reading client measured.
type slowResult struct {
	MaxInFlight     int     `json:"max_in_flight"`
	DurationSeconds float64 `json:"duration_seconds"`

	ProduceRequestBytes  int `json:"produce_request_bytes"`
	ProduceResponseBytes int `json:"produce_response_bytes"`
	FetchResponseBytes   int `json:"fetch_response_bytes"`

	// Requests the client wrote, and the proxy read (its requests_total),
	// at half time and at the end: equal figures mean the proxy stopped
	// reading, which is the backpressure working.
	SentHalf int64 `json:"client_sent_requests_half"`
	SentEnd  int64 `json:"client_sent_requests_end"`
	ReadHalf int64 `json:"proxy_read_requests_half"`
	ReadEnd  int64 `json:"proxy_read_requests_end"`
	// Bytes the proxy wrote (or was writing) to the client, probe included.
	ProxySentBytes int64 `json:"proxy_client_sent_bytes_end"`

	RSSBaseline int64 `json:"rss_baseline_bytes"`
	RSSPeak     int64 `json:"rss_peak_bytes"` // highest sample
	VmHWM       int64 `json:"vmhwm_bytes"`    // kernel's peak RSS since the proxy started
	Growth      int64 `json:"growth_bytes"`   // RSSPeak - RSSBaseline
	// Bound is max-in-flight x the largest response (what the proxy
	// could hold if it buffered every response it owes), plus the request
	// frame being read and heapSlack of garbage awaiting collection.
	Bound       int64 `json:"bound_bytes"`
	WithinBound bool  `json:"within_bound"`
	// LateGrowth is the highest sample of the second half minus the
	// highest of the first; Flat is LateGrowth within flatSlack.
	LateGrowth int64 `json:"late_growth_bytes"`
	Flat       bool  `json:"flat"`

	// Kernel socket queues of the proxy's sockets at the end (not RSS).
	SocketSendQueued int64 `json:"socket_send_queued_bytes"`
	SocketRecvQueued int64 `json:"socket_recv_queued_bytes"`

	Samples []rssSample `json:"samples"`
}

type rssSample struct {
	Seconds float64 `json:"t"`
	RSS     int64   `json:"rss"`
}

// heapSlack is garbage the Go runtime lets accumulate before it collects:
// its minimum heap goal (4 MiB at GOGC=100).
const heapSlack = 4 << 20

// flatSlack is how much the second half's peak may exceed the first's:
// two 1 MiB request frames of heap churn.
const flatSlack = 2 << 20

// runSlow connects one client that pipelines Produce (acks=1) and Fetch
// requests and never reads, and samples the proxy's RSS for c.SlowDuration.
func runSlow(ctx context.Context, c config, up *upstream, maxInFlight int) (slowResult, error) {
	r := slowResult{MaxInFlight: maxInFlight}
	p, err := startProxy(ctx, c.ProxyBin, up.addr, maxInFlight)
	if err != nil {
		return r, err
	}
	defer p.stop()

	produce := produceFrame(1, c.BatchBytes)
	fetch := fetchFrame(2, int32(c.FetchBytes))
	r.ProduceRequestBytes = len(produce)
	if err := probe(p.listen, produce, fetch, &r); err != nil {
		return r, fmt.Errorf("probe: %w", err)
	}
	if r.RSSBaseline, err = proc.RSS(p.pid); err != nil {
		return r, err
	}

	cn, err := net.DialTimeout("tcp", p.listen, 10*time.Second)
	if err != nil {
		return r, err
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, f := range [][]byte{produce, fetch} {
				if _, err := cn.Write(f); err != nil {
					return
				}
				sent.Add(1)
			}
		}
	}()
	defer func() {
		cn.Close()
		wg.Wait()
	}()

	start := time.Now()
	tick := time.NewTicker(c.SampleEvery)
	defer tick.Stop()
	half := false
	for {
		el := time.Since(start)
		if el >= c.SlowDuration {
			break
		}
		if !half && el >= c.SlowDuration/2 {
			half = true
			r.SentHalf = sent.Load()
			s, err := p.scrape()
			if err != nil {
				return r, err
			}
			r.ReadHalf = requestsRead(s)
		}
		v, err := proc.RSS(p.pid)
		if err != nil {
			return r, fmt.Errorf("%w: %v; log: %s", errProxyDied, err, p.log.String())
		}
		r.Samples = append(r.Samples, rssSample{Seconds: el.Seconds(), RSS: v})
		select {
		case <-tick.C:
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
	r.DurationSeconds = time.Since(start).Seconds()
	r.SentEnd = sent.Load()
	if err := p.alive(); err != nil {
		return r, err
	}
	s, err := p.scrape()
	if err != nil {
		return r, err
	}
	r.ReadEnd = requestsRead(s)
	r.ProxySentBytes = int64(s["schemaproxy_client_sent_bytes_total"])
	if r.SocketSendQueued, r.SocketRecvQueued, err = socketQueues(p.pid); err != nil {
		return r, err
	}
	st, err := proc.Status(p.pid, "VmHWM")
	if err != nil {
		return r, err
	}
	r.VmHWM = st["VmHWM"]
	summarizeSlow(&r)
	return r, nil
}

// probe runs one Produce and one Fetch round trip on a connection of its
// own, to learn the response sizes and warm the proxy up.
func probe(addr string, produce, fetch []byte, r *slowResult) error {
	cn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer cn.Close()
	cn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := roundTrip(cn, apiVersionsFrame(3), 3); err != nil {
		return err
	}
	if r.ProduceResponseBytes, err = roundTrip(cn, produce, 1); err != nil {
		return err
	}
	r.FetchResponseBytes, err = roundTrip(cn, fetch, 2)
	return err
}

// requestsRead is the proxy's count of Produce and Fetch requests read,
// less the probe's.
func requestsRead(s promSample) int64 {
	return int64(s[`schemaproxy_requests_total{api="Produce"}`]+s[`schemaproxy_requests_total{api="Fetch"}`]) - 2
}

// summarizeSlow fills the peak, bound and flatness figures from the samples.
func summarizeSlow(r *slowResult) {
	var firstPeak, secondPeak int64
	for i, s := range r.Samples {
		r.RSSPeak = max(r.RSSPeak, s.RSS)
		if i < len(r.Samples)/2 {
			firstPeak = max(firstPeak, s.RSS)
		} else {
			secondPeak = max(secondPeak, s.RSS)
		}
	}
	r.Growth = r.RSSPeak - r.RSSBaseline
	resp := max(r.FetchResponseBytes, r.ProduceResponseBytes)
	r.Bound = int64(r.MaxInFlight)*int64(resp) + int64(r.ProduceRequestBytes) + heapSlack
	r.WithinBound = r.Growth <= r.Bound
	r.LateGrowth = secondPeak - firstPeak
	r.Flat = r.LateGrowth <= flatSlack
}
