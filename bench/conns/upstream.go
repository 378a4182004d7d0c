package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
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
	if _, err := raiseNoFile(); err != nil {
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
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
	pid   int
}

// startUpstream re-executes this program as the upstream role and waits
// for its listen address.
func startUpstream(ctx context.Context) (*upstream, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=upstream")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start upstream: %w", err)
	}
	u := &upstream{cmd: cmd, stdin: stdin, pid: cmd.Process.Pid}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
				addr <- a
				break
			}
		}
		io.Copy(io.Discard, out) //nolint:errcheck // drain until the child exits
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			u.stop()
			return nil, errors.New("upstream exited before printing its address")
		}
		u.addr = a
		return u, nil
	case <-ctx.Done():
		u.stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		u.stop()
		return nil, errors.New("upstream did not print its address within 30s")
	}
}

// stop closes the child's stdin, which ends it, and waits; it kills the
// child if it has not exited after 10s.
func (u *upstream) stop() {
	u.stdin.Close()
	done := make(chan struct{})
	go func() {
		u.cmd.Wait() //nolint:errcheck // the exit status of a stopped child says nothing
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		u.cmd.Process.Kill()
		<-done
	}
}
