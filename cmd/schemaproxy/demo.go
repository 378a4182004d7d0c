package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/schemas"
	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/examples"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy"
)

// demoConfig is what "schemaproxy demo" is told on its command line.
type demoConfig struct {
	Listen         string
	MetricsListen  string
	RegistryListen string
	Brokers        int
	Topics         []string
	Schemas        string
	Smoke          bool
	Mode           string
	LogLevel       string
}

func (c *demoConfig) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:9192", "proxy bootstrap listener, HOST:PORT; embedded node N (0, 1, ...) is served on this port + 1 + N")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:9190", "HOST:PORT serving /metrics, /healthz and /readyz")
	fs.StringVar(&c.RegistryListen, "registry-listen", "127.0.0.1:8081", "HOST:PORT of the embedded schema registry (Confluent REST API)")
	fs.IntVar(&c.Brokers, "brokers", 3, "brokers in the embedded in-process Kafka cluster")
	fs.StringSliceVar(&c.Topics, "topics", nil, "topics created at start, 3 partitions each, besides one per <topic>-value subject registered (default: none)")
	fs.StringVar(&c.Schemas, "schemas", "", "directory of schemas to register at start, named as \"schemaproxy register\" names them (default: the embedded examples/schemas)")
	fs.StringVar(&c.Mode, "mode", "payload", "how every non-internal topic's values are checked: id (a schema ID registered under <topic>-value) or payload (that, and the bytes decode as the schema)")
	fs.BoolVar(&c.Smoke, "smoke", false, "produce a valid memory.created event and invalid ones through the proxy, print each outcome and exit: 0 if the valid one landed and the invalid ones got what --mode promises")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// demo runs an embedded Kafka cluster (kfake) and schema registry
// (srfake), both in process on loopback, with the proxy in front
// enforcing the default policy, until interrupted; or, with --smoke,
// until one valid and one invalid event have gone through.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c demoConfig
	if err := parseFlags("demo", args, stderr, c.flags); err != nil {
		return err
	}
	mode := enforce.Mode(c.Mode)
	if mode != enforce.ModeID && mode != enforce.ModePayload {
		return usageError{fmt.Errorf("--mode %q: want id or payload", c.Mode)}
	}
	if c.Brokers < 1 || c.Brokers > 32 {
		return usageError{fmt.Errorf("--brokers %d: want 1 to 32", c.Brokers)}
	}
	log, err := newLogger(stderr, c.LogLevel, "text")
	if err != nil {
		return usageError{err}
	}
	var schemaFS fs.FS
	schemaRoot := c.Schemas
	if c.Schemas == "" {
		schemaRoot = "examples/schemas"
		schemaFS, _ = fs.Sub(examples.Schemas, "schemas")
	} else {
		if info, err := os.Stat(c.Schemas); err != nil || !info.IsDir() {
			return usageError{fmt.Errorf("--schemas %s is not a directory", c.Schemas)}
		}
		schemaFS = os.DirFS(c.Schemas)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// The registry, with the example schemas.
	reg, err := startDemoRegistry(c.RegistryListen)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reg.Shutdown(sctx) //nolint:errcheck // best effort at exit
	}()
	cl, err := sr.NewClient(sr.URLs(reg.URL()), sr.UserAgent("schemaproxy-demo"))
	if err != nil {
		return err
	}
	rep, err := schemas.Run(ctx, schemaFS, schemaRoot, schemas.Options{Mode: schemas.ModeRegister, Client: cl})
	if err != nil {
		return fmt.Errorf("registering the demo schemas: %w", err)
	}
	if rep.ExitCode() != 0 {
		rep.WriteText(stderr) //nolint:errcheck // best effort before failing
		return fmt.Errorf("registering the demo schemas from %s failed", schemaRoot)
	}
	topics := slices.Clone(c.Topics)
	for _, res := range rep.Results {
		if t, ok := strings.CutSuffix(res.Subject, "-value"); ok && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}

	// Kafka, and the proxy in front of it checking every record.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(c.Brokers), kfake.SeedTopics(3, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	defer cluster.Close()
	m := metrics.New()
	enforcer, err := demoEnforcer(cl, log, m, mode)
	if err != nil {
		return err
	}
	p, err := proxy.New(proxy.Config{Listen: c.Listen, Upstream: cluster.ListenAddrs(), Checker: enforcer}, log, m)
	if err != nil {
		return usageError{err}
	}
	if err := p.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.MetricsListen)
	if err != nil {
		p.Shutdown(context.Background()) //nolint:errcheck // nothing is in flight yet
		return fmt.Errorf("metrics listener: %w", err)
	}
	admin := newAdminServer(p, m)
	go admin.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Shutdown
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		admin.Shutdown(sctx) //nolint:errcheck // best effort at exit
	}()

	if c.Smoke {
		err := runSmoke(ctx, stdout, p.Addr().String(), cluster.ListenAddrs(), rep, mode)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(sctx) //nolint:errcheck // the smoke result is what counts
		return err
	}

	host, port, _ := net.SplitHostPort(c.Listen)
	base, _ := strconv.Atoi(port)
	bootstrap, registry, metricsAddr := p.Addr().String(), reg.URL(), ln.Addr().String()
	var subjects []string
	for _, res := range rep.Results {
		subjects = append(subjects, fmt.Sprintf("%s (id %d, from %s)", res.Subject, res.ID, res.File))
	}
	topic, id := "memory.created", 0
	if !slices.Contains(topics, topic) && len(topics) > 0 {
		topic = topics[0]
	}
	for _, res := range rep.Results {
		if res.Subject == topic+"-value" {
			id = res.ID
		}
	}
	self := selfCommand()
	checks := "its schema ID against the registry"
	if mode == enforce.ModePayload {
		checks = "its schema ID against the registry and its bytes against the schema (--mode payload)"
	}
	fmt.Fprintf(stdout, `schemaproxy demo is running, checking every record value: %[11]s.

  bootstrap (point clients here)  %[1]s
  node listeners                  %[2]s ports %[3]d..%[4]d
  schema registry                 %[5]s
  metrics                         http://%[6]s/metrics
  embedded Kafka (behind proxy)   %[7]s
  topics                          %[8]s
  subjects                        %[9]s

%[10]s
Ctrl-C stops it.
`, bootstrap, host, base+1, base+c.Brokers, registry, metricsAddr, strings.Join(cluster.ListenAddrs(), ","),
		strings.Join(topics, ", "), strings.Join(subjects, ", "), demoTry(self, bootstrap, registry, metricsAddr, topic, id, mode, c.Schemas == ""),
		checks)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Shutdown(sctx)
}

// demoTry returns the banner's "Try:" block: commands that need nothing
// but schemaproxy itself (and curl, for the metrics), each after a
// comment saying what it shows. self is how to call schemaproxy; topic is
// the topic the produce lines write to; exampleID is the ID of the
// example schema under <topic>-value, 0 if it is not registered there
// (then only the unframed value is tried); examples says the registry
// holds examples/schemas, which the check lines compare with.
func demoTry(self, bootstrap, registry, metricsAddr, topic string, exampleID int, mode enforce.Mode, examples bool) string {
	var b strings.Builder
	line := func(comment, format string, args ...any) {
		fmt.Fprintf(&b, "  # %s\n  %s "+format+"\n", append([]any{comment, self}, args...)...)
	}
	b.WriteString("Try:\n")
	produce := fmt.Sprintf("produce --bootstrap %s --topic %s", bootstrap, topic)
	if exampleID != 0 {
		line(fmt.Sprintf("a valid event (Avro, schema id %d) lands: prints its partition and offset", exampleID),
			"%s --registry %s --example", produce, registry)
	}
	line("JSON without a schema ID is refused: INVALID_RECORD with the proxy's reason, exit code 1",
		"%s --value '{\"not\":\"avro\"}'", produce)
	if exampleID != 0 {
		cut := "refused: INVALID_RECORD with the proxy's reason, exit code 1"
		if mode == enforce.ModeID {
			cut = "lands, as mode id checks the schema ID only (demo --mode payload refuses it)"
		}
		line("the right schema ID, but the Avro body cut short by 8 bytes: "+cut,
			"%s --registry %s --example --cut 8", produce, registry)
	}
	line("every record in "+topic+", read for 3 s: what landed, and nothing that was refused",
		"consume --bootstrap %s --topic %s --from-beginning --timeout 3s", bootstrap, topic)
	if examples {
		line("the example schemas against the registry: compatible, exit code 0",
			"check --registry %s examples/schemas", registry)
		line("an incompatible next version: INCOMPATIBLE with the reason, exit code 1",
			"check --registry %s examples/evolution/incompatible", registry)
		line("a compatible next version: would be registered, exit code 0",
			"register --dry-run --registry %s examples/evolution/compatible", registry)
		line("the same incompatibility found without a registry, exit code 1",
			"check --local --previous examples/schemas examples/evolution/incompatible")
	}
	fmt.Fprintf(&b, "  # what the proxy counted: records validated and rejected, by topic and reason\n")
	fmt.Fprintf(&b, "  curl -s http://%s/metrics | grep -E '^schemaproxy_(records_validated|rejections)_total'\n", metricsAddr)
	return b.String()
}

// selfCommand is how the banner's commands call schemaproxy again: the
// path it was started by, or "go run ./cmd/schemaproxy" when that path is
// a temporary build (make demo runs go run).
func selfCommand() string {
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") {
		return exe
	}
	return "go run ./cmd/schemaproxy"
}

// demoEnforcer wires enforcement as serve does, with the default policy
// (every non-internal topic's values carry a schema ID registered under
// <topic>-value) in the given mode, the registry cache, and the metrics.
func demoEnforcer(cl *sr.Client, log *slog.Logger, m *metrics.Metrics, mode enforce.Mode) (*enforce.Enforcer, error) {
	pol, err := enforce.ParsePolicy([]byte("defaults: {value: {mode: " + string(mode) + "}}"))
	if err != nil {
		return nil, err
	}
	store := enforce.FixedPolicy(pol)
	reg := enforce.NewRegistry(cl, enforce.WithRegistryObserver(enforce.RegistryObserver{
		Request:     func(o string) { m.Enforce.RegistryCalls.WithLabelValues(o).Inc() },
		CacheLookup: func(r string) { m.Enforce.CacheLookups.WithLabelValues(r).Inc() },
	}))
	return enforce.New(store, reg, enforce.WithLogger(log), enforce.WithMetrics(m.Enforce)), nil
}
