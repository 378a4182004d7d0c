package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// roleUpstream runs the upstream: a kfake cluster and an srfake registry.
const roleUpstream = "upstream"

// upstreamReady is the one JSON line the upstream role prints once it
// serves.
type upstreamReady struct {
	Bootstrap []string `json:"bootstrap,omitempty"`
	Registry  string   `json:"registry,omitempty"`
	PID       int      `json:"pid"`
	// MemoryLimit is the heap size at which the Go runtime collects
	// garbage in the upstream, whose collector is otherwise off; 0 when
	// GOGC or GOMEMLIMIT set in the environment rule instead.
	MemoryLimit int64 `json:"gc_memory_limit_bytes,omitempty"`
}

// upstreamGC is the upstream's answer to a "gc" line on its stdin, sent
// once the collection is done.
type upstreamGC struct {
	HeapBytes uint64 `json:"heap_bytes"`
	// NumGC counts the collections so far, this one included: more than
	// one since the last answer means the memory limit was reached.
	NumGC uint32 `json:"num_gc"`
}

// Bounds of the upstream's memory limit: a quarter of the memory
// available at its start, within these.
const (
	minUpstreamMemory = 1 << 30
	maxUpstreamMemory = 8 << 30
)

// runUpstream serves a kfake cluster (unless --brokers 0) and, with
// --registry, franz-go's srfake schema registry over HTTP, both on
// loopback; prints their addresses as one JSON line on stdout; and serves
// until SIGTERM or SIGINT, or until stdin closes (the orchestrator is
// gone). With a cluster, and unless GOGC or GOMEMLIMIT is set, the garbage
// collector runs only at a memory limit (upstreamMemoryLimit) or when the
// orchestrator writes "gc" on stdin between rounds: kfake's collections
// would otherwise stall the rounds' requests, which on two cores dominates
// their p99 latency.
func runUpstream(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("upstream", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.Int("brokers", 1, "kfake brokers; 0 runs no cluster")
	registry := fs.Bool("registry", true, "serve an srfake schema registry over HTTP")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ready := upstreamReady{PID: os.Getpid()}
	if *brokers > 0 {
		c, err := kfake.NewCluster(kfake.NumBrokers(*brokers))
		if err != nil {
			return fmt.Errorf("kfake: %w", err)
		}
		defer c.Close()
		ready.Bootstrap = c.ListenAddrs()
		if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
			ready.MemoryLimit = upstreamMemoryLimit()
			debug.SetMemoryLimit(ready.MemoryLimit)
			debug.SetGCPercent(-1)
		}
	}
	if *registry {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("registry listener: %w", err)
		}
		srv := &http.Server{Handler: srfake.NewRegistry().Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Shutdown
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx) //nolint:errcheck // best effort at exit
		}()
		ready.Registry = "http://" + ln.Addr().String()
	}
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}
	gone := make(chan struct{})
	go serveStdin(os.Stdin, stdout, gone)
	select {
	case <-ctx.Done():
	case <-gone:
	}
	return nil
}

// serveStdin answers each "gc" line of in with a collection and an
// upstreamGC line on out, and closes gone when in reaches EOF or fails:
// the orchestrator holding its other end has exited.
func serveStdin(in io.Reader, out io.Writer, gone chan<- struct{}) {
	defer close(gone)
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if sc.Text() != "gc" {
			continue
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if err := enc.Encode(upstreamGC{HeapBytes: ms.HeapAlloc, NumGC: ms.NumGC}); err != nil {
			return
		}
	}
}

// upstreamMemoryLimit is a quarter of the memory available now, within
// minUpstreamMemory and maxUpstreamMemory: room for a round's records and
// its garbage, and for the proxy and the load generator beside it.
func upstreamMemoryLimit() int64 {
	avail := int64(minUpstreamMemory * 4)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					avail = kb << 10
				}
			}
		}
	}
	return min(max(avail/4, minUpstreamMemory), maxUpstreamMemory)
}
