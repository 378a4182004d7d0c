package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
	"github.com/schemaproxy/schemaproxy/internal/freeport"
)

// proxyProc is a schemaproxy serve child process.
type proxyProc struct {
	cmd     *exec.Cmd
	pid     int
	listen  string // bootstrap HOST:PORT
	metrics string // admin HOST:PORT
	log     *proc.Tail
	exited  chan struct{}
}

// startProxy runs bin serve in front of upstream with maxInFlight and
// waits until its bootstrap listener accepts and /readyz answers.
func startProxy(ctx context.Context, bin, upstream string, maxInFlight int) (*proxyProc, error) {
	listen, base, err := freeport.Find(4)
	if err != nil {
		return nil, err
	}
	admin, _, err := freeport.Find(0)
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"--listen", listen,
		"--upstream", upstream,
		"--broker-port-base", strconv.Itoa(base),
		"--metrics-listen", admin,
		"--max-in-flight", strconv.Itoa(maxInFlight),
		"--shutdown-timeout", "5s",
		"--log-level", "warn",
	}
	cmd := exec.Command(bin, args...)
	p := &proxyProc{cmd: cmd, listen: listen, metrics: admin, log: proc.NewTail(16 << 10), exited: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p.pid = cmd.Process.Pid
	go func() {
		cmd.Wait() //nolint:errcheck // reported through exited and the log tail
		close(p.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := p.ready()
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("proxy exited at start: %s", p.log.String())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("proxy not ready within 30s: %w; log: %s", err, p.log.String())
		}
	}
}

func (p *proxyProc) ready() error {
	c, err := net.DialTimeout("tcp", p.listen, time.Second)
	if err != nil {
		return err
	}
	c.Close()
	resp, err := metricsClient.Get("http://" + p.metrics + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

func (p *proxyProc) scrape() (promSample, error) {
	return scrape("http://" + p.metrics + "/metrics")
}

// alive returns an error, with the proxy's last log lines, if it exited.
func (p *proxyProc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("proxy exited: %s", p.log.String())
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for the drain; after 15s it kills.
func (p *proxyProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

var errProxyDied = errors.New("proxy exited during the run")
