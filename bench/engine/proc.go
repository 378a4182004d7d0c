package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// procSample is one reading of a process's accounting from /proc.
type procSample struct {
	CPU     float64 // user + system, seconds, every thread that ever ran
	RSS     int64   // VmRSS, bytes
	HWM     int64   // VmHWM, the peak RSS, bytes
	FDs     int     // open descriptors
	Threads int
}

// sampleProc reads pid's CPU time, RSS, peak RSS, descriptors and threads.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	cpu, err := proc.CPU(pid)
	if err != nil {
		return s, err
	}
	s.CPU = cpu.Seconds()
	st, err := proc.Status(pid, "VmRSS", "VmHWM", "Threads")
	if err != nil {
		return s, err
	}
	s.RSS, s.HWM, s.Threads = st["VmRSS"], st["VmHWM"], int(st["Threads"])
	if s.FDs, err = proc.FDs(pid); err != nil {
		return s, err
	}
	return s, nil
}

// child is one process of the comparison; its stdout is read as lines.
type child struct{ *proc.Child }

// startChild starts argv, on cpu when pin is set (through taskset, which
// execs the program: the pid is the program's).
func startChild(name string, pin bool, cpu int, env []string, argv ...string) (*child, error) {
	o := proc.Options{Env: env}
	if pin {
		o.CPUs = strconv.Itoa(cpu)
	}
	c, err := proc.Start(name, o, argv[0], argv[1:]...)
	if err != nil {
		return nil, err
	}
	return &child{c}, nil
}

// line returns the next line the child prints, failing after timeout or
// when the child ends first.
func (c *child) line(ctx context.Context, timeout time.Duration) (string, error) {
	l, err := c.Line(ctx, timeout)
	return l, c.explain(err)
}

// explain adds the child's name and the tail of its stderr to an error
// saying it ended or fell silent.
func (c *child) explain(err error) error {
	if errors.Is(err, proc.ErrExited) || errors.Is(err, proc.ErrSilent) {
		return fmt.Errorf("%s %w: %s", c.Name(), err, c.stderr())
	}
	return err
}

// expect reads the next line and checks that it starts with prefix,
// returning the rest.
func (c *child) expect(ctx context.Context, prefix string, timeout time.Duration) (string, error) {
	l, err := c.line(ctx, timeout)
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(l, prefix)
	if !ok {
		return "", fmt.Errorf("%s printed %q, want a line starting %q", c.Name(), l, prefix)
	}
	return strings.TrimSpace(rest), nil
}

// stop ends the child: stdin is closed (roles stop on that), and with
// signal also SIGTERM (for schemaproxy, which ignores stdin; a role could
// be killed by it after its handler is gone, on its way out); after ten
// seconds it is killed. It returns what the child printed meanwhile and
// an error if it did not exit cleanly.
func (c *child) stop(signal bool) ([]string, error) {
	out, err := c.Stop(signal, 10*time.Second)
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", c.Name(), err, c.stderr())
	}
	return out, nil
}

// stderr is the tail of the child's stderr, or says there was none.
func (c *child) stderr() string {
	if s := c.Stderr(); s != "" {
		return s
	}
	return "(no output on stderr)"
}

// waitDial polls addr until it accepts a connection, c exits, or timeout.
func waitDial(ctx context.Context, c *child, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not accept connections on %s after %v: %s", c.Name(), addr, timeout, c.stderr())
		}
		// Wait 20ms before dialling again. A line on stdout is not the
		// readiness signal for this child: it is dropped.
		if _, err := c.Line(ctx, 20*time.Millisecond); err != nil && !errors.Is(err, proc.ErrSilent) {
			return c.explain(err)
		}
	}
}
