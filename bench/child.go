package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is one process the orchestrator started: the upstream, a load
// generator, or the proxy. Its stdout is read as JSON lines; the tail of
// its stderr is kept for error messages.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan []byte // stdout lines; closed at EOF
	tail  *tailBuffer
	done  chan struct{} // closed once the process has exited
	err   error         // the exit status, once done is closed
}

// startChild starts exe with args, on cpus when set (taskset), with its
// stderr going to the tail buffer and to log when log is not nil. The
// child is killed if the orchestrator dies first (Pdeathsig).
func startChild(name, cpus string, log io.Writer, exe string, args ...string) (*child, error) {
	path, argv := pinned(cpus, exe, args...)
	cmd := exec.Command(path, argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, lines: make(chan []byte, 4), tail: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.tail
	if log != nil {
		cmd.Stderr = io.MultiWriter(c.tail, log)
	}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go c.readLines(stdout, c.lines)
	return c, nil
}

// readLines feeds stdout lines to lines, then reaps the process; owned
// by the child, it ends when the process closes its stdout.
func (c *child) readLines(stdout io.Reader, lines chan<- []byte) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines <- append([]byte(nil), sc.Bytes()...)
	}
	close(lines)
	c.err = c.cmd.Wait()
	close(c.done)
}

// pid is the process ID (taskset execs the command, so it is the piece's
// own).
func (c *child) pid() int { return c.cmd.Process.Pid }

// next decodes the next stdout line into v.
func (c *child) next(ctx context.Context, op string, v any) error {
	select {
	case line, ok := <-c.lines:
		if !ok {
			<-c.done
			err := c.err
			if err == nil {
				err = errors.New("exited without answering")
			}
			return c.fail(op, err)
		}
		if err := json.Unmarshal(line, v); err != nil {
			return c.fail(op, fmt.Errorf("bad output line %q: %w", line, err))
		}
		return nil
	case <-ctx.Done():
		return c.fail(op, ctx.Err())
	}
}

// send writes one line to the child's stdin.
func (c *child) send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// wait waits for the process to exit, killing it after timeout.
func (c *child) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	lines := c.lines // drained, so the process never blocks writing
	for {
		select {
		case <-c.done:
			if c.err != nil {
				return c.fail("exit", c.err)
			}
			return nil
		case <-t.C:
			c.cmd.Process.Kill() //nolint:errcheck // it may have just exited
			t.Reset(time.Hour)
		case _, ok := <-lines:
			if !ok {
				lines = nil // closed: wait on done alone
			}
		}
	}
}

// stop asks the process to end (SIGTERM, and its stdin closed) and waits
// up to timeout before killing it.
func (c *child) stop(timeout time.Duration) error {
	c.stdin.Close()
	c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
	return c.wait(timeout)
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *child) fail(op string, err error) error {
	return &childError{Name: c.name, Op: op, Err: err, Stderr: c.tail.String()}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	if len(s) > 0 && len(t.buf) >= t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:] // drop the partial first line
		}
	}
	return s
}

// selfExe is the binary the roles re-run: this one.
func selfExe() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this binary to run its roles: %w", err)
	}
	return exe, nil
}
