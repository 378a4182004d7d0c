package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// maxFrame bounds every frame a role reads: the broker's default
// socket.request.max.bytes.
const maxFrame = 100 << 20

// runRole runs this process as one part of the comparison. Every role that
// serves prints "ready ADDR" on stdout once it accepts connections, and
// stops when stdin ends or it is signalled.
func runRole(ctx context.Context, c config, stdin io.Reader, stdout, stderr io.Writer) error {
	proc.RaiseNoFile() //nolint:errcheck // best effort: the limit is reported
	in := bufio.NewReader(stdin)
	log := newRoleLogger(stderr)
	switch c.Role {
	case roleSink:
		return runSink(ctx, c, in, stdout, log)
	case roleLoad:
		return runLoad(ctx, c, in, stdout)
	case roleIdle:
		return runIdle(ctx, c, in, stdout)
	case engineGnet, engineGnetFrame:
		return runGnet(ctx, c, in, stdout, log)
	case engineNetFrame, engineSplice:
		return runNet(ctx, c, in, stdout, log)
	}
	return fmt.Errorf("unknown role %q", c.Role)
}

// untilEOF returns a context that ends when ctx does or when in ends. The
// goroutine it starts reads in to its end, which is when the orchestrating
// process closes the pipe or exits.
func untilEOF(ctx context.Context, in io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, in) //nolint:errcheck // any end of stdin means stop
		cancel()
	}()
	return ctx, cancel
}

// waitLine reads one line from in, or fails when ctx ends first.
func waitLine(ctx context.Context, in *bufio.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := in.ReadString('\n')
		ch <- result{strings.TrimSpace(line), err}
	}()
	select {
	case r := <-ch:
		return r.line, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// noFileLimit returns the soft open-file limit after raising it to the
// hard one: an idle round holds two descriptors per connection in the
// proxy.
func noFileLimit() int {
	n, _ := proc.RaiseNoFile()
	if n == 0 {
		return 1024
	}
	return int(min(n, 1<<30))
}

// listenPort returns the port of a HOST:PORT address, or "" if it has none.
func listenPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return port
}

// newRoleLogger logs warnings and errors of a role process to w.
func newRoleLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
