package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schemaproxy/schemaproxy/metrics"
)

// Proxy serves the bootstrap listener and one listener per upstream node.
// Create it with New, run it with Start, stop it with Shutdown. All methods
// are safe for concurrent use.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics.Metrics
	brokers *brokerMap
	// topicIDs maps the topic IDs Metadata and DescribeTopicPartitions
	// responses named to their topics, with a checker only (protect.go).
	topicIDs topicIDs
	connLog  *logLimiter // bounds the lines refused and failed connections log

	wg       sync.WaitGroup // every goroutine the proxy starts
	mu       sync.Mutex     // guards the fields below
	closed   bool
	lns      []*listener
	pairs    map[*pair]struct{}
	bootNext atomic.Uint32 // rotates the first bootstrap broker tried
}

// New returns a Proxy for cfg, which must pass Validate. log and m must not be nil.
func New(cfg Config, log *slog.Logger, m *metrics.Metrics) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	p := &Proxy{cfg: cfg, log: log, metrics: m, pairs: make(map[*pair]struct{})}
	p.brokers = &brokerMap{p: p, nodes: make(map[int32]*node)}
	p.connLog = newLogLimiter(connLogRate, connLogBurst, nil, m.LogSuppressed.Inc)
	return p, nil
}

// listener is one accepting socket: the bootstrap listener (node nil) or
// the listener of one upstream node.
type listener struct {
	ln   net.Listener
	name string // metrics label: "bootstrap" or "broker-<id>"
	node *node  // nil for bootstrap
}

// Start opens the bootstrap listener and begins accepting. It returns once
// the listener is open; errors after that are logged. Start also asks an
// upstream broker for its metadata, without failing if none answers, so
// node listeners are open before the first client asks.
func (p *Proxy) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return fmt.Errorf("bootstrap listener: %w", err)
	}
	l := &listener{ln: ln, name: "bootstrap"}
	if err := p.addListener(l); err != nil {
		return err
	}
	p.log.Info("listening", "listener", "bootstrap", "addr", ln.Addr().String(), "upstream", p.cfg.Upstream)
	p.prime(ctx)
	return nil
}

// Addr returns the bootstrap listener's address, or nil before Start.
func (p *Proxy) Addr() net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lns {
		if l.node == nil {
			return l.ln.Addr()
		}
	}
	return nil
}

func (p *Proxy) addListener(l *listener) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		l.ln.Close()
		return ErrClosed
	}
	p.lns = append(p.lns, l)
	p.goTracked(func() { p.accept(l) })
	return nil
}

// goTracked runs fn in a goroutine that Shutdown waits for. The caller
// holds p.mu or is itself a tracked goroutine.
func (p *Proxy) goTracked(fn func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
}

// accept owns a listener: it runs until the listener is closed.
func (p *Proxy) accept(l *listener) {
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE and the like): back off as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.log.Warn("accept failed", "listener", l.name, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		p.metrics.ConnectionsTotal.WithLabelValues(l.name).Inc()
		if p.cfg.ClientTLS != nil {
			c = tls.Server(c, p.cfg.ClientTLS)
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.goTracked(func() { p.serveConn(c, l) })
		p.mu.Unlock()
	}
}

// serveConn dials the upstream for l and runs the pair until it ends.
func (p *Proxy) serveConn(c net.Conn, l *listener) {
	log := p.log.With("client_addr", c.RemoteAddr().String(), "listener", l.name)
	if tc, ok := c.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			p.connLog.log(log, slog.LevelWarn, "client TLS handshake failed", "err", err)
			p.metrics.ConnectionErrors.WithLabelValues(metrics.ReasonTLS).Inc()
			c.Close()
			return
		}
	}
	up, addr, err := p.dialFor(l)
	if err != nil {
		p.connLog.log(log, slog.LevelWarn, "upstream dial failed; closing client connection", "err", err)
		p.metrics.ConnectionErrors.WithLabelValues(metrics.ReasonUpstreamDial).Inc()
		c.Close()
		return
	}
	pr := newPair(p, c, up, log.With("upstream_addr", addr))
	if !p.track(pr, true) {
		pr.close()
		return
	}
	active := p.metrics.ConnectionsActive.WithLabelValues(l.name)
	active.Inc()
	pr.run()
	active.Dec()
	p.track(pr, false)
}

func (p *Proxy) track(pr *pair, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.pairs[pr] = struct{}{}
	} else {
		delete(p.pairs, pr)
	}
	return true
}

// dialFor connects to the upstream that listener l serves.
func (p *Proxy) dialFor(l *listener) (net.Conn, string, error) {
	if l.node != nil {
		addr := l.node.upstreamAddr()
		c, err := p.dial(addr)
		return c, addr, err
	}
	var errs []error
	start := int(p.bootNext.Add(1))
	for i := range p.cfg.Upstream {
		addr := p.cfg.Upstream[(start+i)%len(p.cfg.Upstream)]
		c, err := p.dial(addr)
		if err == nil {
			return c, addr, nil
		}
		errs = append(errs, err)
	}
	return nil, "", fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

func (p *Proxy) dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	if p.cfg.UpstreamTLS != nil {
		cfg := p.cfg.UpstreamTLS
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		return td.DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// Ready reports whether an upstream bootstrap broker accepts a connection
// (and completes a TLS handshake when upstream TLS is on).
func (p *Proxy) Ready(ctx context.Context) error {
	var errs []error
	for _, addr := range p.cfg.Upstream {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, err := p.dial(addr)
		if err == nil {
			c.Close()
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

// Shutdown stops accepting, lets every connection finish the requests it
// has in flight until ctx ends, then closes what is left and waits for
// every goroutine. It returns ctx's error if the drain was cut short.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	for _, l := range p.lns {
		l.ln.Close()
	}
	pairs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		pairs = append(pairs, pr)
	}
	p.mu.Unlock()
	for _, pr := range pairs {
		pr.drain()
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for pr := range p.pairs {
		pr.close()
	}
	p.mu.Unlock()
	<-done
	return ctx.Err()
}

// nodeListenAddr is where node id listens: the bootstrap listener's host
// and BrokerPortBase+id.
func (p *Proxy) nodePort(id int32) (int, error) {
	port := int64(p.cfg.BrokerPortBase) + int64(id)
	if id < 0 || port > 65535 {
		return 0, fmt.Errorf("%w: node %d at base %d gives port %d", ErrNodePortRange, id, p.cfg.BrokerPortBase, port)
	}
	return int(port), nil
}

func (p *Proxy) listenHost() string {
	host, _, _ := net.SplitHostPort(p.cfg.Listen)
	return host
}

// advertised returns the host and port the proxy hands out for node id.
func (p *Proxy) advertised(id int32) (string, int32) {
	port, _ := p.nodePort(id)
	return p.cfg.AdvertisedHost, int32(port)
}

// NodeAddr returns the proxy's listen address for node id, or "" if no
// listener is open for it yet.
func (p *Proxy) NodeAddr(id int32) string {
	n := p.brokers.get(id)
	if n == nil {
		return ""
	}
	return n.ln.ln.Addr().String()
}

func itoa(i int) string { return strconv.Itoa(i) }
