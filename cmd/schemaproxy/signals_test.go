package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// envMainProcess makes the test binary run a command line instead of its
// tests.
const envMainProcess = "SCHEMAPROXY_TEST_MAIN_PROCESS"

// TestMain runs the tests, unless $SCHEMAPROXY_TEST_MAIN_PROCESS is set:
// startProcess runs the test binary again that way, and it then does what
// main does with the arguments after "--", in a process of its own, so
// that the signals a test sends are real ones.
func TestMain(m *testing.M) {
	if os.Getenv(envMainProcess) != "1" {
		os.Exit(m.Run())
	}
	args := os.Args[1:]
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	os.Exit(run(context.Background(), args, os.Stdout, os.Stderr))
}

// process is a schemaproxy command running in a process of its own.
type process struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{} // closed when the process has exited and cmd.ProcessState is set
}

// startProcess runs the command line args in a child process; the test's
// end kills it if it is still running.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"--"}, args...)...)
	p.cmd.Env = append(os.Environ(), envMainProcess+"=1")
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait() //nolint:errcheck // the exit status is read from ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() //nolint:errcheck // it may exit meanwhile
			<-p.done
		}
	})
	return p
}

// signal sends sig to the process, failing the test if it has gone.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v: %v", sig, err)
	}
}

// waitExit waits up to timeout for the process to exit and returns its
// exit status.
func (p *process) waitExit(t *testing.T, timeout time.Duration) *os.ProcessState {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState
	case <-time.After(timeout):
		t.Fatalf("the process did not exit within %v; stderr:\n%s", timeout, p.stderr.String())
		return nil
	}
}

// waitHealthy polls /healthz until it answers 200, failing at once if the
// process exits first.
func (p *process) waitHealthy(t *testing.T, metricsAddr string) {
	t.Helper()
	proxytest.Eventually(t, 15*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("the process exited early (%v); stderr:\n%s", p.cmd.ProcessState, p.stderr.String())
		default:
		}
		code, _, err := get("http://" + metricsAddr + "/healthz")
		if err == nil && code != 200 {
			err = fmt.Errorf("healthz: %d", code)
		}
		return err
	})
}

// countLines returns how many lines of log hold every one of subs.
func countLines(log string, subs ...string) int {
	n := 0
lines:
	for _, l := range strings.Split(log, "\n") {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue lines
			}
		}
		n++
	}
	return n
}

// TestServeSignalShutdown sends SIGTERM, and SIGINT, to a serve process
// that has proxied a record: it logs its shutdown, exits 0, and its
// listeners are gone.
func TestServeSignalShutdown(t *testing.T) {
	t.Parallel()
	for name, sig := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			listen, _ := proxytest.FreePorts(t, 1)
			metricsAddr, _ := proxytest.FreePorts(t, 0)
			p := startProcess(t, "serve", "--listen", listen, "--metrics-listen", metricsAddr,
				"--upstream", strings.Join(c.ListenAddrs(), ","), "--log-format", "json")
			p.waitHealthy(t, metricsAddr)

			cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.DefaultProduceTopic("t"))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("produce through serve: %v", err)
			}
			cl.Close()

			// Without --registry there is no policy: a SIGHUP is logged
			// and the proxy goes on.
			p.signal(t, syscall.SIGHUP)
			proxytest.Eventually(t, 10*time.Second, func() error {
				if !strings.Contains(p.stderr.String(), `"msg":"SIGHUP ignored`) {
					return fmt.Errorf("no SIGHUP ignored line yet")
				}
				return nil
			})

			p.signal(t, sig)
			st := p.waitExit(t, 15*time.Second)
			if st.ExitCode() != 0 {
				t.Errorf("after %v: got exit status %v, want exit code 0; stderr:\n%s", sig, st, p.stderr.String())
			}
			for _, addr := range []string{listen, metricsAddr} {
				if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
					conn.Close()
					t.Errorf("dial %s after exit: got a connection, want refused", addr)
				}
			}
			log := p.stderr.String()
			for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
				if countLines(log, msg) != 1 {
					t.Errorf("want one %s log line, got:\n%s", msg, log)
				}
			}
		})
	}
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, as editors and configuration tools do.
func writeFileAtomic(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestServeSIGHUPReloadsPolicy changes a topic from mode off to mode id and
// then to a broken policy, each time reloading with a real SIGHUP.
//
// The policy file is also reloaded when it changes, by a watch on its
// directory. So that only SIGHUP can have caused the reloads under test,
// --policy names a symlink in a directory of its own, pointing into
// another directory, and the policy is edited there: the watch sees
// nothing (enforce.PolicyStore.Watch documents that changes behind such a
// symlink are seen only by Reload). The test first swaps the symlink
// itself and waits for the watch to reload, which shows the watch is
// running and past its start-up check, so it cannot pick up the later
// edits on its own either.
func TestServeSIGHUPReloadsPolicy(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := enforcetest.NewRegistry(t)

	const (
		off    = "rules:\n  - topics: [\"t\"]\n    value: {mode: off}\n"
		offToo = "# still off\n" + off
		id     = "rules:\n  - topics: [\"t\"]\n    value: {mode: id}\n"
		broken = "rules:\n  - topics: [\"t\"]\n    value: {mode: id}\n    colour: red\n"
	)
	watched, edited := t.TempDir(), t.TempDir()
	policy := filepath.Join(watched, "policy.yaml")
	target := filepath.Join(edited, "policy.yaml")
	if err := os.WriteFile(filepath.Join(edited, "first.yaml"), []byte(off), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(edited, "first.yaml"), policy); err != nil {
		t.Fatal(err)
	}

	listen, _ := proxytest.FreePorts(t, 1)
	metricsAddr, _ := proxytest.FreePorts(t, 0)
	p := startProcess(t, "serve", "--listen", listen, "--metrics-listen", metricsAddr,
		"--upstream", strings.Join(c.ListenAddrs(), ","), "--log-format", "json",
		"--registry", reg.URL, "--policy", policy)
	p.waitHealthy(t, metricsAddr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no schema ID")}).FirstErr()
	}
	if err := produce(); err != nil {
		t.Fatalf("mode off: a record without a schema ID: got %v, want it to land", err)
	}

	// The watch is running: swapping the symlink in its directory reloads.
	writeFileAtomic(t, target, offToo)
	if err := os.Symlink(target, policy+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(policy+".new", policy); err != nil {
		t.Fatal(err)
	}
	reloaded := `"msg":"policy reloaded"`
	proxytest.Eventually(t, 10*time.Second, func() error {
		if n := countLines(p.stderr.String(), reloaded); n != 1 {
			return fmt.Errorf("got %d %s lines, want 1 from the watch; the log:\n%s", n, reloaded, p.stderr.String())
		}
		return nil
	})

	// Edited behind the symlink: nothing reloads until SIGHUP.
	writeFileAtomic(t, target, id)
	if err := produce(); err != nil {
		t.Fatalf("mode id written but no SIGHUP yet: got %v, want the record to land", err)
	}
	p.signal(t, syscall.SIGHUP)
	proxytest.Eventually(t, 10*time.Second, func() error {
		err := produce()
		if !errors.Is(err, kerr.InvalidRecord) {
			return fmt.Errorf("mode id after SIGHUP: got %v, want %v", err, kerr.InvalidRecord)
		}
		return nil
	})

	writeFileAtomic(t, target, broken)
	p.signal(t, syscall.SIGHUP)
	failed := `"msg":"policy reload failed, previous policy stays in force"`
	proxytest.Eventually(t, 10*time.Second, func() error {
		if n := countLines(p.stderr.String(), failed); n != 1 {
			return fmt.Errorf("got %d %s lines, want 1; the log:\n%s", n, failed, p.stderr.String())
		}
		return nil
	})
	if got := grepLines(p.stderr.String(), failed); !strings.Contains(got, "line 4") || !strings.Contains(got, "colour") {
		t.Errorf("reload error: got %s, want it to name line 4 and field colour", got)
	}
	if err := produce(); !errors.Is(err, kerr.InvalidRecord) {
		t.Errorf("after a broken policy: got %v, want %v from the policy still in force", err, kerr.InvalidRecord)
	}
	if n := countLines(p.stderr.String(), reloaded); n != 2 {
		t.Errorf("got %d %s lines, want 2 (the watch's, then the SIGHUP's); the log:\n%s", n, reloaded, p.stderr.String())
	}

	p.signal(t, syscall.SIGTERM)
	if st := p.waitExit(t, 15*time.Second); st.ExitCode() != 0 {
		t.Errorf("after SIGTERM: got exit status %v, want exit code 0; stderr:\n%s", st, p.stderr.String())
	}
}
