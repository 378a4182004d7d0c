package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// envRole makes the test binary run as a role process: the comparison
// starts this binary again for the sink, the clients and the passthroughs.
const envRole = "SCHEMAPROXY_BENCH_ENGINE_ROLE"

func TestMain(m *testing.M) {
	if os.Getenv(envRole) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestCompareTiny runs every engine once on a few MiB and 50 idle
// connections and checks that the figures are sane, not what they are.
func TestCompareTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin, err := buildSchemaproxy(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var c config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.flags(fs)
	// Enough bytes for a few clock ticks (10 ms) of CPU time even in the
	// splice passthrough, whose work is mostly the kernel's.
	const mib = 64
	args := []string{"--rounds=1", "--produce-mib=" + strconv.Itoa(mib), "--conns=1", "--depth=4", "--idle-conns=50",
		"--idle-settle=100ms", "--pin=off", "--schemaproxy=" + bin}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	// GORACE: a race-enabled process otherwise sleeps a second on exit.
	r, err := newRunner(c, os.Args[0], []string{envRole + "=1", "GORACE=atexit_sleep_ms=0"}, tWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.compare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rep.Rounds), len(allEngines); got != want {
		t.Fatalf("got %d engine rounds, want %d", got, want)
	}
	for _, rr := range rep.Rounds {
		tp, idle := rr.Throughput, rr.Idle
		if tp.BytesSent < mib<<20 || tp.BytesForwarded != tp.BytesSent {
			t.Errorf("%s: sent %d bytes, forwarded %d; want at least %d MiB, all of it forwarded", rr.Engine, tp.BytesSent, tp.BytesForwarded, mib)
		}
		if tp.CPUSeconds <= 0 || tp.CPUPerGB <= 0 || tp.PeakRSS <= 0 {
			t.Errorf("%s: CPU %.3f s, %.3f CPU-s/GB, peak RSS %d; want all above 0", rr.Engine, tp.CPUSeconds, tp.CPUPerGB, tp.PeakRSS)
		}
		if idle.Conns != 50 || idle.RSSAfter <= 0 || idle.RSSPerConn != float64(idle.RSSAfter-idle.RSSBefore)/50 {
			t.Errorf("%s: idle round %+v; want 50 connections and RSS per connection computed", rr.Engine, idle)
		}
		// Each idle client connection holds its own descriptor and its
		// upstream's in the proxy.
		if idle.FDsPerConn < 1.9 {
			t.Errorf("%s: %.2f descriptors per idle connection, want about 2", rr.Engine, idle.FDsPerConn)
		}
	}
	var out bytes.Buffer
	writeTable(&out, rep)
	for _, e := range allEngines {
		if !strings.Contains(out.String(), e) {
			t.Errorf("table does not name %s:\n%s", e, out.String())
		}
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
