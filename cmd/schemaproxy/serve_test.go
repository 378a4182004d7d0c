package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func get(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestServeEndToEnd runs the serve command against kfake: a client
// produces through it, the admin endpoints answer, and cancelling the
// context (as SIGTERM does) stops it with exit code 0.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(2, "t"), kfake.ListenFn(heldPortListen(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	listen, _ := proxytest.FreePorts(t, 4)
	metricsAddr, _ := proxytest.FreePorts(t, 0)
	cmd := startCmd(t, "serve", "--listen", listen, "--metrics-listen", metricsAddr,
		"--upstream", strings.Join(c.ListenAddrs(), ","), "--log-format", "json")
	ctx := cmd.ctx
	proxytest.Eventually(t, 10*time.Second, func() error {
		code, _, err := get("http://" + metricsAddr + "/healthz")
		if err == nil && code != 200 {
			err = fmt.Errorf("healthz: %d", code)
		}
		return err
	})
	if code, body, err := get("http://" + metricsAddr + "/readyz"); err != nil || code != 200 {
		t.Fatalf("readyz: got %d %q %v, want 200", code, body, err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 15*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce through serve: %v", err)
	}
	cl.Close()

	_, body, err := get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `schemaproxy_requests_total{api="Produce"} 1`) {
		t.Errorf("metrics: want schemaproxy_requests_total{api=\"Produce\"} 1 in\n%s", grepLines(body, "schemaproxy_requests_total"))
	}

	c.Close() // readiness follows the upstream; its ports stay bound, see heldPortListen
	if code, _, _ := get("http://" + metricsAddr + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with upstream gone: got %d, want 503", code)
	}

	cmd.stop(t)
	if !strings.Contains(cmd.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("want a json 'stopped' log line, got:\n%s", cmd.stderr.String())
	}
}

// heldPortListen is a kfake.ListenFn whose listeners keep their port
// bound until the test ends. Closing one stops it listening (shutdown on a
// listening socket), so a dial to it is refused at once; but the port is
// not handed back to the kernel, so no other listener (another test's
// kfake or httptest server asking for port 0) can be given it while the
// test still expects it closed. A kernel keeps the port of a socket that
// stopped listening only if it was bound to that port by number, so the
// listener binds to a port number the kernel just chose, retrying if it
// was taken meanwhile; SO_REUSEADDR is off so that no explicit bind can
// share it either.
func heldPortListen(t *testing.T) func(network, addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		}); err != nil {
			return err
		}
		return serr
	}}
	return func(network, addr string) (net.Listener, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ln net.Listener
		for range 100 {
			bind := addr
			if port == "0" {
				probe, err := lc.Listen(context.Background(), network, addr)
				if err != nil {
					return nil, err
				}
				bind = net.JoinHostPort(host, strconv.Itoa(probe.Addr().(*net.TCPAddr).Port))
				probe.Close()
			}
			if ln, err = lc.Listen(context.Background(), network, bind); err == nil || port != "0" {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { ln.Close() })
		return heldListener{ln.(*net.TCPListener)}, nil
	}
}

// heldListener stops listening on Close but keeps its port; see
// heldPortListen.
type heldListener struct{ *net.TCPListener }

func (l heldListener) Close() error {
	rc, err := l.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Shutdown(int(fd), syscall.SHUT_RD) }); err != nil {
		return err
	}
	if serr != nil && !errors.Is(serr, syscall.ENOTCONN) {
		return serr
	}
	return nil
}

// cmdRun is a subcommand running in the background of a test.
type cmdRun struct {
	ctx            context.Context
	cancel         context.CancelFunc
	stdout, stderr syncBuffer
	done           chan int
}

// startCmd runs the command line args in the background until stop (or
// the end of the test) cancels its context.
func startCmd(t *testing.T, args ...string) *cmdRun {
	t.Helper()
	c := &cmdRun{done: make(chan int, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(c.cancel)
	go func() { c.done <- run(c.ctx, args, &c.stdout, &c.stderr) }()
	return c
}

// stop cancels the command's context, as SIGTERM does, and fails the test
// unless it exits 0 within 15 s.
func (c *cmdRun) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	select {
	case code := <-c.done:
		if code != 0 {
			t.Errorf("exit code: got %d, want 0; stderr:\n%s", code, c.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not stop after its context was cancelled")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
