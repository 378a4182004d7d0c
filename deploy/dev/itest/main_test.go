//go:build integration

package itest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/schemaproxy/schemaproxy/deploy/dev/testbed"
)

var keepDir = flag.Bool("keep", false, "keep the brokers' and proxies' directories (logs, data) after the run")

// Package state, set up once by TestMain.
var (
	runDir   string           // brokers' directories live below it
	registry *srfake.Registry // schema registry for every Avro test
	brokers  = map[testbed.Mode]*lazyBroker{
		testbed.Plaintext: {},
		testbed.SASL:      {},
		testbed.SSL:       {},
	}
)

// lazyBroker starts its broker, and the schemaproxy in front of it, on
// first use; tests running in parallel wait for the one start.
type lazyBroker struct {
	once sync.Once
	k    *testbed.Kafka
	sp   *schemaProxy
	err  error
}

// get returns the broker of mode, starting it and its proxy on the first
// call.
func (lb *lazyBroker) get(mode testbed.Mode) (*testbed.Kafka, error) {
	lb.once.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		lb.k, lb.err = testbed.StartKafka(ctx, filepath.Join(runDir, string(mode)), mode)
		if lb.err != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "itest: %s broker at %s started in %s\n", mode, lb.k.Bootstrap, time.Since(start).Round(time.Millisecond))
		if lb.sp, lb.err = startProxy(ctx, lb.k, filepath.Join(runDir, "proxy-"+string(mode))); lb.err != nil {
			lb.err = fmt.Errorf("starting the proxy in front of the %s broker: %w", mode, lb.err)
			return
		}
		fmt.Fprintf(os.Stderr, "itest: schemaproxy for the %s broker at %s\n", mode, lb.sp.bootstrap())
	})
	return lb.k, lb.err
}

// broker returns the running broker of mode, starting it on first use.
func broker(t testing.TB, mode testbed.Mode) *testbed.Kafka {
	t.Helper()
	k, err := brokers[mode].get(mode)
	if err != nil {
		t.Fatalf("starting the %s broker: %v", mode, err)
	}
	return k
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx := context.Background()
	start := time.Now()
	if err := testbed.Setup(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "itest: installing the test bed:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "itest: test bed installed or up to date in %s\n", time.Since(start).Round(time.Millisecond))

	var err error
	if runDir, err = os.MkdirTemp("", "schemaproxy-itest-"); err != nil {
		fmt.Fprintln(os.Stderr, "itest:", err)
		return 1
	}
	registry = testbed.StartRegistry()
	defer registry.Close()

	code := 1
	// The plaintext broker serves most tests: start it before any runs.
	if _, err := brokers[testbed.Plaintext].get(testbed.Plaintext); err != nil {
		fmt.Fprintln(os.Stderr, "itest:", err)
	} else {
		code = m.Run()
	}

	for mode, lb := range brokers {
		if lb.sp != nil {
			fmt.Fprintf(os.Stderr, "itest: the proxy for the %s broker read %.0f Produce and %.0f Fetch requests, rejected %.0f partitions\n",
				mode, lb.sp.requests("Produce"), lb.sp.requests("Fetch"), lb.sp.counter("schemaproxy_rejections_total", nil))
			if err := lb.sp.stop(); err != nil {
				fmt.Fprintf(os.Stderr, "itest: stopping the proxy for the %s broker: %v\n", mode, err)
			}
		}
		if lb.k == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := lb.k.Stop(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "itest: stopping the %s broker: %v\n", mode, err)
		}
		cancel()
	}
	if code != 0 || *keepDir {
		fmt.Fprintln(os.Stderr, "itest: broker and proxy logs kept in", runDir)
	} else {
		os.RemoveAll(runDir)
	}
	return code
}
