package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the upstream child, as main does.
func TestMain(m *testing.M) {
	if ok, err := maybeRunRole(os.Stdin, os.Stdout); ok {
		if err != nil {
			fmt.Fprintf(os.Stderr, "conns: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// proxyBin builds cmd/schemaproxy into a temporary directory, or returns
// $SCHEMAPROXY_BIN when set.
func proxyBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SCHEMAPROXY_BIN"); bin != "" {
		return bin
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the proxy with; set SCHEMAPROXY_BIN")
	}
	bin := filepath.Join(t.TempDir(), "schemaproxy")
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/schemaproxy/schemaproxy/cmd/schemaproxy").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSmallScale runs both scenarios at a scale that fits a unit test run
// and checks that the figures are computed and sane.
func TestSmallScale(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs Linux /proc")
	}
	c := config{
		ProxyBin:        proxyBin(t),
		Conns:           200,
		DialConcurrency: 32,
		Settle:          300 * time.Millisecond,
		SlowDuration:    3 * time.Second,
		SampleEvery:     100 * time.Millisecond,
		MaxInFlight:     []int{16},
		BatchBytes:      1 << 20,
		FetchBytes:      1 << 20,
		Scenarios:       []string{"idle", "slow"},
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := run(ctx, c, tWriter{t})
	var table bytes.Buffer
	printTable(&table, rep)
	t.Log(table.String())
	if err != nil {
		t.Fatal(err)
	}

	idle := rep.Idle
	if idle == nil {
		t.Fatal("no idle result")
	}
	if idle.Conns != c.Conns || idle.ActiveConns != c.Conns {
		t.Errorf("idle: ran %d connections, proxy counted %d, want %d", idle.Conns, idle.ActiveConns, c.Conns)
	}
	if kib := idle.RSSPerConnKiB; math.IsNaN(kib) || kib <= 0 || kib > 1024 {
		t.Errorf("idle: RSS per connection %.1f KiB, want in (0, 1024]", kib)
	}
	if g := idle.GoroutinesPerConn; g < 1 || g > 4 {
		t.Errorf("idle: %.2f goroutines per connection, want 1 to 4", g)
	}
	if idle.FDsAfter-idle.FDsBefore < c.Conns {
		t.Errorf("idle: proxy fds %d -> %d, want at least one more per connection", idle.FDsBefore, idle.FDsAfter)
	}

	if len(rep.Slow) != 1 {
		t.Fatalf("%d slow-reader results, want 1", len(rep.Slow))
	}
	s := rep.Slow[0]
	if len(s.Samples) < 10 || s.RSSPeak <= 0 || s.RSSBaseline <= 0 {
		t.Errorf("slow reader: %d samples, peak %d, baseline %d: not measured", len(s.Samples), s.RSSPeak, s.RSSBaseline)
	}
	if s.FetchResponseBytes < c.FetchBytes/2 || s.ReadEnd < 1 {
		t.Errorf("slow reader: fetch response %d B, %d requests read: the load did not reach the proxy", s.FetchResponseBytes, s.ReadEnd)
	}
	if !s.WithinBound {
		t.Errorf("slow reader: RSS grew %d bytes, above the in-flight bound of %d", s.Growth, s.Bound)
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

func TestParseProm(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 11
# TYPE schemaproxy_connections_active gauge
schemaproxy_connections_active{listener="bootstrap"} 3
schemaproxy_connections_active{listener="node-0"} 1
# TYPE schemaproxy_requests_total counter
schemaproxy_requests_total{api="Produce"} 42
# TYPE schemaproxy_produce_proxy_seconds histogram
schemaproxy_produce_proxy_seconds_bucket{leg="request",le="+Inf"} 5
schemaproxy_produce_proxy_seconds_sum{leg="request"} 0.1
schemaproxy_produce_proxy_seconds_count{leg="request"} 5
`
	got, err := parseProm(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{
		"go_goroutines": 11,
		`schemaproxy_connections_active{listener="bootstrap"}`: 3,
		`schemaproxy_connections_active{listener="node-0"}`:    1,
		`schemaproxy_requests_total{api="Produce"}`:            42,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s: got %v (present %v), want %v", key, v, ok, want)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d series, want 4 (histograms left out): %v", len(got), got)
	}
}
