package proc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// tailBytes is how much of a child's stderr a Child keeps.
const tailBytes = 8 << 10

// Options are how Start runs a child. The zero value runs it unpinned,
// with this process's environment, keeping only the tail of its stderr.
type Options struct {
	CPUs string    // taskset CPU list to pin it to ("1", "0-3"); "" leaves it unpinned
	Env  []string  // KEY=value entries added to this process's environment
	Log  io.Writer // if not nil, also gets everything the child writes to stderr
}

// Child is a process started by Start. A goroutine it owns reads the
// child's stdout into lines and, at its end, reaps the process; the last
// 8 KiB of its stderr are kept for error messages. A Child is used by one
// goroutine at a time.
type Child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout lines; closed at EOF
	tail  *Tail
	done  chan struct{} // closed once the process has exited
	err   error         // the exit status, once done is closed
}

// Start starts exe with args as the child name (which names it in errors),
// through taskset when o.CPUs is set (taskset execs the program, so the
// pid is the program's). The child is killed if this process dies first
// (Pdeathsig).
func Start(name string, o Options, exe string, args ...string) (*Child, error) {
	path, argv := pinned(o.CPUs, exe, args...)
	cmd := exec.Command(path, argv...)
	if o.Env != nil {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c := &Child{name: name, cmd: cmd, lines: make(chan string, 16), tail: NewTail(tailBytes), done: make(chan struct{})}
	cmd.Stderr = c.tail
	if o.Log != nil {
		cmd.Stderr = io.MultiWriter(c.tail, o.Log)
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
	go c.readLines(stdout)
	return c, nil
}

// readLines feeds stdout lines to c.lines, then reaps the process; owned
// by the Child, it ends when the process closes its stdout.
func (c *Child) readLines(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		c.lines <- sc.Text()
	}
	close(c.lines)
	c.err = c.cmd.Wait()
	close(c.done)
}

// Name is the name the child was started with.
func (c *Child) Name() string { return c.name }

// PID is the child's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Stderr is the tail of what the child wrote to stderr, as Tail.String
// gives it ("" when it wrote nothing).
func (c *Child) Stderr() string { return c.tail.String() }

// Line returns the next line the child printed on stdout. It fails with
// ErrExited (and the exit status if the child failed) when the child ends
// first, with ErrSilent when timeout passes first (0: no limit but ctx),
// and with ctx's error when ctx ends first.
func (c *Child) Line(ctx context.Context, timeout time.Duration) (string, error) {
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case l, ok := <-c.lines:
		if !ok {
			<-c.done
			if c.err != nil {
				return "", fmt.Errorf("%w: %w", ErrExited, c.err)
			}
			return "", ErrExited
		}
		return l, nil
	case <-expired:
		return "", fmt.Errorf("%w in %v", ErrSilent, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Send writes line and a newline to the child's stdin.
func (c *Child) Send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// Exited reports whether the child has ended.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop ends the child: its stdin is closed (the bench tools' roles stop
// on that) and, with term, it is sent SIGTERM (for schemaproxy, which
// ignores its stdin); if it has not exited after timeout, it is killed.
// It returns the lines the child printed meanwhile, and its exit status
// if that was not 0. Stop may be called again, and after Kill.
func (c *Child) Stop(term bool, timeout time.Duration) ([]string, error) {
	c.stdin.Close()
	if term {
		c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited already
	}
	t := time.AfterFunc(timeout, func() { c.cmd.Process.Kill() }) //nolint:errcheck // as above
	defer t.Stop()
	var out []string
	for l := range c.lines {
		out = append(out, l)
	}
	<-c.done
	return out, c.err
}

// Kill ends the child at once, for cleanup after a failure, and waits
// for it to be reaped.
func (c *Child) Kill() {
	c.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	for range c.lines {
	}
	<-c.done
}

// Tail keeps the last bytes written to it: the end of a process's
// output, for error messages. It is safe for concurrent use.
type Tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// NewTail returns a Tail that keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

// String is what was kept, trimmed of white space and, once more was
// written than kept, of its partial first line; "" if nothing was
// written.
func (t *Tail) String() string {
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
