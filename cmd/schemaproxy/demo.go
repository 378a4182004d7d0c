package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
)

// demoConfig is what "schemaproxy demo" is told on its command line.
type demoConfig struct {
	Listen        string
	MetricsListen string
	Brokers       int
	Topics        []string
	LogLevel      string
}

func (c *demoConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9192", "proxy bootstrap listener, HOST:PORT; node N is served on the next ports")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:9190", "HOST:PORT serving /metrics, /healthz and /readyz")
	fs.IntVar(&c.Brokers, "brokers", 3, "brokers in the embedded in-process Kafka cluster")
	fs.StringSliceVar(&c.Topics, "topics", []string{"memory.created"}, "topics created at start, 3 partitions each")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// demo runs an embedded Kafka cluster (kfake, in process, loopback only)
// with the proxy in front of it until interrupted.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c demoConfig
	if err := parseFlags("demo", args, stderr, c.flags); err != nil {
		return err
	}
	if c.Brokers < 1 || c.Brokers > 32 {
		return usageError{fmt.Errorf("--brokers %d: want 1 to 32", c.Brokers)}
	}
	log, err := newLogger(stderr, c.LogLevel, "text")
	if err != nil {
		return usageError{err}
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(c.Brokers), kfake.SeedTopics(3, c.Topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	defer cluster.Close()

	m := metrics.New()
	p, err := proxy.New(proxy.Config{Listen: c.Listen, Upstream: cluster.ListenAddrs()}, log, m)
	if err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := p.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.MetricsListen)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	admin := newAdminServer(p, m)
	go admin.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Shutdown

	host, port, _ := net.SplitHostPort(c.Listen)
	base, _ := strconv.Atoi(port)
	fmt.Fprintf(stdout, `schemaproxy demo is running.

  bootstrap (point clients here)  %s
  node listeners                  %s ports %d..%d
  metrics                         http://%s/metrics
  embedded Kafka (behind proxy)   %v
  topics                          %v

Try:
  kcat -b %s -L                         # every broker shown is the proxy
  kcat -b %s -P -t %s <<< 'hello'
  curl -s http://%s/metrics | grep '^schemaproxy_requests_total'

Ctrl-C stops it.
`, p.Addr(), host, base+1, base+c.Brokers, ln.Addr(), cluster.ListenAddrs(), c.Topics,
		p.Addr(), p.Addr(), c.Topics[0], ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	admin.Shutdown(sctx) //nolint:errcheck // best effort at exit
	return p.Shutdown(sctx)
}
