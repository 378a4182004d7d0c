package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
)

// serveConfig is everything "schemaproxy serve" is told on its command line.
type serveConfig struct {
	Listen          string
	Upstream        []string
	AdvertisedHost  string
	BrokerPortBase  int
	MetricsListen   string
	MaxRequestBytes int32
	MaxInFlight     int
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string

	TLSCert     string
	TLSKey      string
	TLSClientCA string

	UpstreamTLS        bool
	UpstreamCA         string
	UpstreamCert       string
	UpstreamKey        string
	UpstreamServerName string

	Enforce enforceConfig
}

func (c *serveConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9192", "bootstrap listener, HOST:PORT")
	fs.StringSliceVar(&c.Upstream, "upstream", nil, "upstream bootstrap brokers, HOST:PORT[,...] (required)")
	fs.StringVar(&c.AdvertisedHost, "advertised-host", "", "host written into rewritten broker addresses (default: the host of --listen)")
	fs.IntVar(&c.BrokerPortBase, "broker-port-base", 0, "upstream node N is served at advertised-host:(base+N) (default: the --listen port + 1)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:9190", "HOST:PORT serving /metrics, /healthz and /readyz; empty disables it")
	fs.Int32Var(&c.MaxRequestBytes, "max-request-bytes", 100<<20, "largest client request accepted, in bytes (a broker's socket.request.max.bytes)")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 64, "requests awaiting a response per client connection before the proxy stops reading from it")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long in-flight requests may drain before connections are closed")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")

	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate for TLS toward clients; with --tls-key, every listener speaks TLS (default: plaintext)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)")

	fs.BoolVar(&c.UpstreamTLS, "upstream-tls", false, "connect to brokers with TLS (implied by any other --upstream-tls-* flag)")
	fs.StringVar(&c.UpstreamCA, "upstream-tls-ca", "", "PEM CA bundle to verify brokers (default: the system roots)")
	fs.StringVar(&c.UpstreamCert, "upstream-tls-cert", "", "PEM client certificate presented to brokers (mTLS)")
	fs.StringVar(&c.UpstreamKey, "upstream-tls-key", "", "PEM private key for --upstream-tls-cert")
	fs.StringVar(&c.UpstreamServerName, "upstream-tls-server-name", "", "server name verified in broker certificates (default: the host dialed)")
	c.Enforce.flags(fs)
}

// proxyConfig validates c and turns it into the proxy's Config.
func (c *serveConfig) proxyConfig() (proxy.Config, error) {
	pc := proxy.Config{
		Listen:          c.Listen,
		Upstream:        c.Upstream,
		AdvertisedHost:  c.AdvertisedHost,
		BrokerPortBase:  c.BrokerPortBase,
		MaxRequestBytes: c.MaxRequestBytes,
		MaxInFlight:     c.MaxInFlight,
	}
	if len(c.Upstream) == 0 {
		return pc, errors.New("--upstream is required: name at least one broker, e.g. --upstream kafka-1:9092")
	}
	if c.ShutdownTimeout < 0 {
		return pc, errors.New("--shutdown-timeout must not be negative")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return pc, errors.New("--tls-cert and --tls-key go together: set both or neither")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return pc, errors.New("--tls-client-ca needs --tls-cert and --tls-key: mTLS is only possible on a TLS listener")
	}
	if (c.UpstreamCert == "") != (c.UpstreamKey == "") {
		return pc, errors.New("--upstream-tls-cert and --upstream-tls-key go together: set both or neither")
	}
	if c.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return pc, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		pc.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if c.TLSClientCA != "" {
			pool, err := loadPool(c.TLSClientCA)
			if err != nil {
				return pc, fmt.Errorf("--tls-client-ca: %w", err)
			}
			pc.ClientTLS.ClientCAs = pool
			pc.ClientTLS.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	if c.UpstreamTLS || c.UpstreamCA != "" || c.UpstreamCert != "" || c.UpstreamServerName != "" {
		pc.UpstreamTLS = &tls.Config{ServerName: c.UpstreamServerName, MinVersion: tls.VersionTLS12}
		if c.UpstreamCA != "" {
			pool, err := loadPool(c.UpstreamCA)
			if err != nil {
				return pc, fmt.Errorf("--upstream-tls-ca: %w", err)
			}
			pc.UpstreamTLS.RootCAs = pool
		}
		if c.UpstreamCert != "" {
			cert, err := tls.LoadX509KeyPair(c.UpstreamCert, c.UpstreamKey)
			if err != nil {
				return pc, fmt.Errorf("--upstream-tls-cert/--upstream-tls-key: %w", err)
			}
			pc.UpstreamTLS.Certificates = []tls.Certificate{cert}
		}
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return pc, fmt.Errorf("--metrics-listen %q is not HOST:PORT", c.MetricsListen)
		}
	}
	if err := c.Enforce.validate(); err != nil {
		return pc, err
	}
	if err := pc.Validate(); err != nil {
		return pc, err
	}
	return pc, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c serveConfig
	if err := parseFlags("serve", args, stderr, c.flags); err != nil {
		return err
	}
	log, err := newLogger(stderr, c.LogLevel, c.LogFormat)
	if err != nil {
		return usageError{err}
	}
	pc, err := c.proxyConfig()
	if err != nil {
		return usageError{err}
	}
	m := metrics.New()
	en, err := c.Enforce.newEnforcement(log, m)
	if err != nil {
		return err
	}
	if en != nil {
		pc.Checker = en.enforcer
		pc.RegistryLookupsPerRequest = c.Enforce.LookupsPerRequest
		pc.RegistryLookupsPerConnection = c.Enforce.LookupsPerConnection
	}
	p, err := proxy.New(pc, log, m)
	if err != nil {
		return usageError{err}
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGHUP is taken before anything listens, so that one sent early is
	// never left to its default action, which ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if en != nil {
		go en.run(ctx, c.Enforce.Policy, hup)
	} else {
		go ignoreHangups(ctx, log, hup)
	}

	var admin *http.Server
	if c.MetricsListen != "" {
		ln, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		admin = newAdminServer(p, m)
		go admin.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Shutdown
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", c.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	err = p.Shutdown(sctx)
	if admin != nil {
		admin.Shutdown(sctx) //nolint:errcheck // best effort at exit
	}
	if err != nil {
		log.Warn("shutdown cut short; in-flight requests were dropped", "err", err)
		return nil
	}
	log.Info("stopped")
	return nil
}

// newAdminServer serves /metrics, /healthz (the process answers) and
// /readyz (an upstream broker accepts a connection).
func newAdminServer(p *proxy.Proxy, m *metrics.Metrics) *http.Server {
	return &http.Server{Handler: adminMux(p, m), ReadHeaderTimeout: 5 * time.Second}
}

func adminMux(p *proxy.Proxy, m *metrics.Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := p.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// ignoreHangups logs each SIGHUP until ctx ends: without --registry there
// is no policy to reload, and the signal must not stop the proxy.
func ignoreHangups(ctx context.Context, log *slog.Logger, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP ignored: without --registry there is no policy to reload")
		}
	}
}
