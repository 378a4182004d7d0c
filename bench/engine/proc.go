package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's accounting from /proc.
type procSample struct {
	CPU     float64 // utime+stime, seconds, every thread that ever ran
	RSS     int64   // VmRSS, bytes
	HWM     int64   // VmHWM, the peak RSS, bytes
	FDs     int     // open descriptors
	Threads int
}

// sampleProc reads pid's CPU time, RSS, peak RSS, descriptors and threads.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after its closing parenthesis; utime and stime are fields
	// 14 and 15 of the whole line, 12 and 13 after the name.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat has %d fields after the name", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.CPU = float64(ut+st) / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			s.RSS = n << 10
		case "VmHWM":
			s.HWM = n << 10
		case "Threads":
			s.Threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	return s, nil
}

// child is one process of the comparison. One goroutine reads its stdout
// into lines and ends when the process closes it.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *tailBuffer
}

// startChild starts argv, on cpu when pin is set (through taskset, which
// execs the program: the pid is the program's).
func startChild(name string, pin bool, cpu int, env []string, argv ...string) (*child, error) {
	if pin {
		argv = append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	c := &child{name: name, cmd: cmd, lines: make(chan string, 16), stderr: &tailBuffer{max: 8 << 10}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// line returns the next line the child prints, failing after timeout or
// when the child ends first.
func (c *child) line(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", fmt.Errorf("%s ended early: %s", c.name, c.stderr.String())
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("%s printed nothing in %v: %s", c.name, timeout, c.stderr.String())
	case <-ctx.Done():
		return "", ctx.Err()
	}
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
		return "", fmt.Errorf("%s printed %q, want a line starting %q", c.name, l, prefix)
	}
	return strings.TrimSpace(rest), nil
}

// stop ends the child: stdin is closed (roles stop on that), and with
// signal also SIGTERM (for schemaproxy, which ignores stdin; a role could
// be killed by it after its handler is gone, on its way out); after ten
// seconds it is killed. It returns what the
// child printed meanwhile and an error if it did not exit cleanly.
func (c *child) stop(signal bool) ([]string, error) {
	c.stdin.Close()
	if signal {
		c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited already
	}
	var out []string
	t := time.AfterFunc(10*time.Second, func() { c.cmd.Process.Kill() }) //nolint:errcheck // as above
	defer t.Stop()
	for l := range c.lines {
		out = append(out, l)
	}
	if err := c.cmd.Wait(); err != nil {
		return out, fmt.Errorf("%s: %w: %s", c.name, err, c.stderr.String())
	}
	return out, nil
}

// kill ends the child at once, for cleanup after a failure.
func (c *child) kill() {
	c.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	for range c.lines {
	}
	c.cmd.Wait() //nolint:errcheck // killed
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "(no output on stderr)"
	}
	return s
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
			return fmt.Errorf("%s does not accept connections on %s after %v: %s", c.name, addr, timeout, c.stderr.String())
		}
		select {
		case l, ok := <-c.lines:
			if !ok {
				return fmt.Errorf("%s ended early: %s", c.name, c.stderr.String())
			}
			_ = l // a line on stdout: not the readiness signal for this child
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
