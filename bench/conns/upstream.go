package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// roleEnv names the environment variable that makes this program (or its
// test binary) run as the upstream cluster instead of the benchmark.
const roleEnv = "SCHEMAPROXY_CONNS_ROLE"

// benchTopic is the one topic the upstream serves: one partition, produce
// discarded, fetch answered from a canned 1 MiB batch.
const benchTopic = "bench"

// maybeRunRole runs the role named in roleEnv, if any, and reports whether
// it did; main and TestMain exit after it.
func maybeRunRole(stdin io.Reader, stdout io.Writer) (bool, error) {
	switch role := os.Getenv(roleEnv); role {
	case "":
		return false, nil
	case "upstream":
		return true, serveUpstream(stdin, stdout)
	default:
		return true, fmt.Errorf("unknown %s %q", roleEnv, role)
	}
}

// serveUpstream runs a one-broker kfake cluster, prints "ADDR host:port",
// and serves until stdin ends (the parent closed it or exited).
func serveUpstream(stdin io.Reader, stdout io.Writer) error {
	if _, err := proc.RaiseNoFile(); err != nil {
		return err
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(1, benchTopic),
		kfake.BlackholeProduce(),
		kfake.SyntheticFetch(kfake.SyntheticBatch{}),
	)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintf(stdout, "ADDR %s\n", c.ListenAddrs()[0])
	io.Copy(io.Discard, stdin) //nolint:errcheck // any end of stdin means stop
	return nil
}

// upstream is the kfake child process.
type upstream struct {
	*proc.Child
	addr string
}

// startUpstream re-executes this program as the upstream role and waits
// for its listen address.
func startUpstream(ctx context.Context) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c, err := proc.Start("upstream", proc.Options{Env: []string{roleEnv + "=upstream"}, Log: os.Stderr}, self)
	if err != nil {
		return nil, err
	}
	u := &upstream{Child: c}
	for {
		l, err := c.Line(ctx, 30*time.Second)
		if err != nil {
			u.stop()
			return nil, fmt.Errorf("upstream did not print its address: %w", err)
		}
		if a, ok := strings.CutPrefix(l, "ADDR "); ok {
			u.addr = a
			return u, nil
		}
	}
}

// stop closes the child's stdin, which ends it, and waits; it kills the
// child if it has not exited after 10s.
func (u *upstream) stop() {
	u.Stop(false, 10*time.Second) //nolint:errcheck // the exit status of a stopped child says nothing
}
