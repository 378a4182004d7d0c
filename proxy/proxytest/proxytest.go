// Package proxytest runs a schemaproxy in front of an in-process kfake
// cluster for tests: loopback listeners only, ports chosen free, every
// client connection's destination recorded so tests can assert that no
// upstream address ever reaches a client, and, given an enforcetest
// registry, schema enforcement wired as cmd/schemaproxy wires it.
package proxytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/internal/freeport"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
)

// Env is a kfake cluster with a proxy in front of it.
type Env struct {
	Cluster *kfake.Cluster
	Proxy   *proxy.Proxy
	Metrics *metrics.Metrics
	Config  proxy.Config
	Log     *slog.Logger
	// Enforcer is the proxy's checker when Options.Registry was set, else nil.
	Enforcer *enforce.Enforcer

	mu    sync.Mutex
	dials []string
}

// Options adjusts an Env before it starts.
type Options struct {
	Kfake []kfake.Opt             // extra kfake options; NumBrokers(3) is the default
	Proxy func(cfg *proxy.Config) // edits the proxy config before New
	Log   io.Writer               // log destination; default: t.Log
	Level slog.Level              // default: Info

	// Registry, when not nil, makes the proxy enforce Policy against it:
	// Config.Checker is an Enforcer whose metrics, registry requests and
	// cache look-ups count in Env.Metrics. Proxy may still replace it.
	Registry *enforcetest.Registry
	// Policy is the YAML policy document; "" means enforce.DefaultPolicy.
	Policy string
	// RegistryOpts are extra options for the registry cache.
	RegistryOpts []enforce.RegistryOpt
}

// New starts a 3-broker kfake cluster and a proxy in front of it; both stop
// when the test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	kopts := append([]kfake.Opt{kfake.NumBrokers(3)}, o.Kfake...)
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return Start(t, c, o)
}

// Start runs a proxy in front of an existing cluster.
func Start(t testing.TB, c *kfake.Cluster, o Options) *Env {
	t.Helper()
	w := o.Log
	if w == nil {
		w = tWriter{t}
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: o.Level}))
	listen, base := FreePorts(t, 8)
	cfg := proxy.Config{
		Listen:         listen,
		Upstream:       c.ListenAddrs(),
		BrokerPortBase: base,
	}
	m := metrics.New()
	var enf *enforce.Enforcer
	if o.Registry != nil {
		enf = newEnforcer(t, o, m, log)
		cfg.Checker = enf
	}
	if o.Proxy != nil {
		o.Proxy(&cfg)
	}
	p, err := proxy.New(cfg, log, m)
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("proxy.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx) //nolint:errcheck // a cut-short drain is fine at test end
	})
	return &Env{Cluster: c, Proxy: p, Metrics: m, Config: cfg, Log: log, Enforcer: enf}
}

// newEnforcer builds the Enforcer for o.Registry and o.Policy, wired to m
// as cmd/schemaproxy wires it.
func newEnforcer(t testing.TB, o Options, m *metrics.Metrics, log *slog.Logger) *enforce.Enforcer {
	t.Helper()
	pol := enforce.DefaultPolicy()
	if o.Policy != "" {
		var err error
		if pol, err = enforce.ParsePolicy([]byte(o.Policy)); err != nil {
			t.Fatalf("policy: %v", err)
		}
	}
	ropts := append([]enforce.RegistryOpt{enforce.WithRegistryObserver(enforce.RegistryObserver{
		Request:     func(o string) { m.Enforce.RegistryCalls.WithLabelValues(o).Inc() },
		CacheLookup: func(r string) { m.Enforce.CacheLookups.WithLabelValues(r).Inc() },
		Refused:     func(r string) { m.Enforce.LookupsRefused.WithLabelValues(r).Inc() },
		InFlight:    func(d int) { m.Enforce.RegistryActive.Add(float64(d)) },
	})}, o.RegistryOpts...)
	reg := enforce.NewRegistry(o.Registry.Client, ropts...)
	return enforce.New(enforce.FixedPolicy(pol), reg, enforce.WithLogger(log), enforce.WithMetrics(m.Enforce))
}

// Bootstrap is the proxy's bootstrap address.
func (e *Env) Bootstrap() string { return e.Proxy.Addr().String() }

// Client returns a franz-go client bootstrapped at the proxy whose dialer
// records every address it connects to. It closes when the test ends.
func (e *Env) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	base := []kgo.Opt{
		kgo.SeedBrokers(e.Bootstrap()),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			e.mu.Lock()
			e.dials = append(e.dials, host)
			e.mu.Unlock()
			return d.DialContext(ctx, network, host)
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Dials returns every address a Client has dialed.
func (e *Env) Dials() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.dials...)
}

// AssertNoLeak fails the test if any Client dialed an address other than
// the proxy's own listeners, that is, if an upstream address reached it.
func (e *Env) AssertNoLeak(t testing.TB) {
	t.Helper()
	up := make(map[string]bool)
	for _, a := range e.Cluster.ListenAddrs() {
		up[a] = true
	}
	_, basePort, _ := net.SplitHostPort(e.Config.Listen)
	bp, _ := strconv.Atoi(basePort)
	for _, d := range e.Dials() {
		if up[d] {
			t.Errorf("client dialed upstream address %s directly", d)
			continue
		}
		_, ps, _ := net.SplitHostPort(d)
		port, _ := strconv.Atoi(ps)
		if port != bp && (port < e.Config.BrokerPortBase || port >= e.Config.BrokerPortBase+1000) {
			t.Errorf("client dialed %s, which is not a proxy listener", d)
		}
	}
	if len(e.Dials()) == 0 {
		t.Errorf("no client dialed anything; the leak check saw no traffic")
	}
}

// FreePorts returns a free loopback listen address and a broker port base
// with n free ports after it, failing the test if there is none.
func FreePorts(t testing.TB, n int) (listen string, base int) {
	t.Helper()
	listen, base, err := FindFreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return listen, base
}

// FindFreePorts finds a loopback listen address and a broker port base
// with n free ports after it, below the kernel's ephemeral range so that
// a run it found stays free; see [freeport.Find].
func FindFreePorts(n int) (listen string, base int, err error) {
	return freeport.Find(n)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// Eventually polls cond every 10ms until it returns nil or timeout passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v: %v", timeout, err)
}

// LogBuffer collects log output, for an Options.Log whose lines a test
// asserts on. Safe for concurrent use; the zero value is ready.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Line returns the first line holding every one of subs, or "".
func (l *LogBuffer) Line(subs ...string) string {
lines:
	for _, line := range strings.Split(l.String(), "\n") {
		for _, s := range subs {
			if !strings.Contains(line, s) {
				continue lines
			}
		}
		return line
	}
	return ""
}

// WaitLine polls until a line holds every one of subs and returns it,
// failing the test, with the whole log, after timeout.
func (l *LogBuffer) WaitLine(t testing.TB, timeout time.Duration, subs ...string) string {
	t.Helper()
	var line string
	Eventually(t, timeout, func() error {
		if line = l.Line(subs...); line == "" {
			return fmt.Errorf("no log line holds all of %q; the log:\n%s", subs, l.String())
		}
		return nil
	})
	return line
}
