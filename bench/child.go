package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// child is one process the orchestrator started: the upstream, a load
// generator, or the proxy. Its stdout is read as JSON lines; the tail of
// its stderr goes into its errors.
type child struct{ *proc.Child }

// startChild starts exe with args, on cpus when set (taskset), with its
// stderr also going to log when log is not nil. The child is killed if
// the orchestrator dies first.
func startChild(name, cpus string, log io.Writer, exe string, args ...string) (*child, error) {
	c, err := proc.Start(name, proc.Options{CPUs: cpus, Log: log}, exe, args...)
	if err != nil {
		return nil, err
	}
	return &child{c}, nil
}

// next decodes the next stdout line into v.
func (c *child) next(ctx context.Context, op string, v any) error {
	line, err := c.Line(ctx, 0)
	if err != nil {
		return c.fail(op, err)
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return c.fail(op, fmt.Errorf("bad output line %q: %w", line, err))
	}
	return nil
}

// stop asks the process to end (SIGTERM, and its stdin closed) and waits
// up to timeout before killing it.
func (c *child) stop(timeout time.Duration) error {
	if _, err := c.Stop(true, timeout); err != nil {
		return c.fail("exit", err)
	}
	return nil
}

func (c *child) fail(op string, err error) error {
	return &childError{Name: c.Name(), Op: op, Err: err, Stderr: c.Stderr()}
}

// selfExe is the binary the roles re-run: this one.
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this binary to run its roles: %w", err)
	}
	return exe, nil
}
