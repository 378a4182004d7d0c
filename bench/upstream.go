package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
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
}

// runUpstream serves a kfake cluster (unless --brokers 0) and, with
// --registry, franz-go's srfake schema registry over HTTP, both on
// loopback; prints their addresses as one JSON line on stdout; and serves
// until SIGTERM or SIGINT, or until stdin closes (the orchestrator is
// gone).
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
	go watchStdin(gone)
	select {
	case <-ctx.Done():
	case <-gone:
	}
	return nil
}

// watchStdin closes gone when stdin reaches EOF or fails: the
// orchestrator holding its other end has exited.
func watchStdin(gone chan<- struct{}) {
	defer close(gone)
	_, err := io.Copy(io.Discard, os.Stdin)
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return
	}
}
