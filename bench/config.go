package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
	"github.com/schemaproxy/schemaproxy/internal/kgoflag"
)

// Modes the proxy runs in: off (no --registry), id (schema IDs checked
// against the registry), payload (the payload decoded against its schema).
const (
	modeOff     = "off"
	modeID      = "id"
	modePayload = "payload"
)

// Config is everything the orchestrator is told on its command line. It
// is written into results.json as given, after defaults.
type Config struct {
	RecordSize  byteSize      `json:"record_size_bytes"`
	Records     int           `json:"records_per_round,omitempty"`
	Duration    time.Duration `json:"duration_per_round_ns,omitempty"`
	Partitions  int           `json:"partitions"`
	Producers   int           `json:"producers"`
	Compression string        `json:"compression"`
	Acks        string        `json:"acks"`
	Linger      time.Duration `json:"linger_ns"`
	BatchBytes  byteSize      `json:"batch_bytes"`
	Modes       []string      `json:"modes"`
	Rounds      int           `json:"rounds"`
	Warmup      int           `json:"warmup_rounds"`
	Pin         bool          `json:"pin"`
	Both        bool          `json:"both"`
	Rate        string        `json:"rate"`
	Consume     bool          `json:"consume"`
	Brokers     int           `json:"kfake_brokers,omitempty"`
	Bootstrap   []string      `json:"bootstrap,omitempty"`
	Registry    string        `json:"registry,omitempty"`
	UpstreamPID int           `json:"upstream_pid,omitempty"`
	ProxyBin    string        `json:"proxy_bin"`
	ProxyArgs   []string      `json:"proxy_args,omitempty"`
	Out         string        `json:"out"`
	JSON        bool          `json:"json"`
	Timeout     time.Duration `json:"timeout_ns"`

	// rate, once parsed: an absolute records/s, or a fraction of the
	// probed maximum; both zero means unthrottled.
	rateAbs  float64
	rateFrac float64
	// root is the repository root, or "" when run outside it.
	root string
}

// Defaults, named where the README and the help quote them.
const (
	defaultRecords    = 200_000
	defaultRecordSize = 1024
	defaultBatchBytes = 128 << 10
	minRecordSize     = 128
)

func (c *Config) flags(fs *pflag.FlagSet, pinDefault bool) {
	c.RecordSize = defaultRecordSize
	c.BatchBytes = defaultBatchBytes
	fs.Var(&c.RecordSize, "record-size", "bytes per record value: Confluent framing (magic 0, schema ID) and an Avro event padded to this size; accepts KiB/MiB suffixes")
	fs.IntVar(&c.Records, "records", defaultRecords, "records produced per round, over all producers (exclusive with --duration)")
	fs.DurationVar(&c.Duration, "duration", 0, "length of each round instead of a record count, e.g. 10s (default: off, --records counts)")
	fs.IntVar(&c.Partitions, "partitions", 8, "partitions of each round's topic; records go round-robin over them")
	fs.IntVar(&c.Producers, "producers", 1, "producer clients in the load process, each with its own connections")
	fs.StringVar(&c.Compression, "compression", "lz4", "batch compression: none, gzip, snappy, lz4 or zstd")
	fs.StringVar(&c.Acks, "acks", "all", "producer acks: all (idempotent, the client default), 1 or 0 (both without idempotence)")
	fs.DurationVar(&c.Linger, "linger", 5*time.Millisecond, "producer linger: how long a partition's batch may wait to fill")
	fs.Var(&c.BatchBytes, "batch-bytes", "largest record batch a producer builds, bytes before compression; accepts KiB/MiB suffixes")
	fs.StringSliceVar(&c.Modes, "mode", []string{modeID}, "proxy enforcement mode(s), comma-separated, one session each: off (no --registry), id (schema IDs checked), payload (payloads decoded)")
	fs.IntVar(&c.Rounds, "rounds", 3, "measured round pairs per session (one direct round, then one proxied round, each pair)")
	fs.IntVar(&c.Warmup, "warmup", 1, "unmeasured warm-up round pairs before them")
	pinHelp := "pin the load generator and the upstream to the first allowed CPU and the proxy to the second, in direct and proxied rounds alike (default: on when taskset exists and 2+ CPUs are allowed"
	if pinDefault {
		pinHelp += ", as here)"
	} else {
		pinHelp += ", so off here)"
	}
	fs.BoolVar(&c.Pin, "pin", pinDefault, pinHelp)
	fs.BoolVar(&c.Both, "both", false, "run every session twice, pinned and then unpinned, and report both (default off)")
	fs.StringVar(&c.Rate, "rate", "max", "producer rate in measured rounds: max (unthrottled), a number of records/s over all producers, half, or a percentage like 50%: a fraction of the maximum that a probe pair of unthrottled rounds measures first")
	fs.BoolVar(&c.Consume, "consume", false, "after each produce round, also consume its records from the start, through the same path, and report fetch throughput (default off)")
	fs.IntVar(&c.Brokers, "brokers", 1, "brokers in the kfake upstream (ignored with --bootstrap); kfake serves all of them on one goroutine")
	fs.StringSliceVar(&c.Bootstrap, "bootstrap", nil, "HOST:PORT[,...] of a real cluster to use as the upstream instead of kfake (default: kfake in a process of its own)")
	fs.StringVar(&c.Registry, "registry", "", "schema registry URL for --bootstrap runs (default: srfake in a process of its own)")
	fs.IntVar(&c.UpstreamPID, "upstream-pid", 0, "PID of the --bootstrap broker on this machine: its CPU seconds are reported, and with --pin it is pinned (all threads) beside the load generator (default: not measured)")
	fs.StringVar(&c.ProxyBin, "proxy-bin", "", "schemaproxy binary to run (default: go build ./cmd/schemaproxy into bin/schemaproxy)")
	fs.StringArrayVar(&c.ProxyArgs, "proxy-arg", nil, "extra argument for \"schemaproxy serve\", repeatable, e.g. --proxy-arg=--max-in-flight=128 (default: none)")
	fs.StringVar(&c.Out, "out", "", "directory for results.json, chart.svg and proxy.log (default: bench/out in the repository, else a new temporary directory)")
	fs.BoolVar(&c.JSON, "json", false, "print results.json to stdout instead of the table (default off)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Minute, "longest one produce or consume phase may take")
}

// parse fills c from args and validates it.
func (c *Config) parse(args []string, stderr io.Writer) error {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	pinOK, _ := proc.CanPin()
	c.flags(fs, pinOK)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench [flags]\n\n%s\nFlags:\n%s", benchUsage, fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return usageError{errHelp}
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q: every option is a --flag", fs.Arg(0))}
	}
	if fs.Changed("duration") {
		if fs.Changed("records") {
			return usageError{errors.New("--records and --duration are exclusive: a round is a record count or a length")}
		}
		c.Records = 0
	}
	if err := c.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

const benchUsage = `Produces Confluent-framed Avro records to an upstream directly and through
schemaproxy, in alternating rounds (direct, proxy, direct, proxy, ...), and
reports throughput, produce latency, and the proxy's CPU and memory per round,
in median, and as proxy/direct ratios. See bench/README.md.
`

// Validate checks the configuration before anything starts, and parses
// --rate.
func (c *Config) Validate() error {
	switch {
	case c.RecordSize < minRecordSize:
		return fmt.Errorf("--record-size %d: the smallest event is about %d bytes", c.RecordSize, minRecordSize)
	case c.RecordSize > 900<<10:
		return fmt.Errorf("--record-size %d: larger than a broker's default max.message.bytes allows", c.RecordSize)
	case int(c.BatchBytes) < int(c.RecordSize)+128:
		return fmt.Errorf("--batch-bytes %d cannot hold one %d-byte record and its batch header", c.BatchBytes, c.RecordSize)
	case c.BatchBytes > 1000<<10:
		return fmt.Errorf("--batch-bytes %d: above a broker's default max.message.bytes (1000012)", c.BatchBytes)
	case c.Records < 0:
		return errors.New("--records must be positive")
	case c.Duration < 0:
		return errors.New("--duration must be positive")
	case c.Records == 0 && c.Duration == 0:
		return errors.New("set --records or --duration")
	case c.Partitions < 1 || c.Partitions > 1000:
		return fmt.Errorf("--partitions %d: want 1 to 1000", c.Partitions)
	case c.Producers < 1 || c.Producers > 64:
		return fmt.Errorf("--producers %d: want 1 to 64", c.Producers)
	case c.Records > 0 && c.Records < c.Producers:
		return fmt.Errorf("--records %d is fewer than --producers %d", c.Records, c.Producers)
	case c.Linger < 0:
		return errors.New("--linger must not be negative")
	case c.Rounds < 1:
		return errors.New("--rounds must be at least 1")
	case c.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case c.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	if _, err := kgoflag.Compression(c.Compression); err != nil {
		return fmt.Errorf("--compression %w", err)
	}
	if _, err := kgoflag.Acks(c.Acks); err != nil {
		return fmt.Errorf("--acks %w", err)
	}
	if len(c.Modes) == 0 {
		return errors.New("--mode: name at least one of off, id, payload")
	}
	for _, m := range c.Modes {
		if m != modeOff && m != modeID && m != modePayload {
			return fmt.Errorf("--mode %q: want off, id or payload", m)
		}
	}
	if hasDuplicates(c.Modes) {
		return fmt.Errorf("--mode %s names a mode twice", strings.Join(c.Modes, ","))
	}
	if c.Pin || c.Both {
		if ok, why := proc.CanPin(); !ok {
			return fmt.Errorf("cannot pin: %s (use --pin=false)", why)
		}
	}
	if err := c.parseRate(); err != nil {
		return err
	}
	if len(c.Bootstrap) == 0 {
		if c.Registry != "" {
			return errors.New("--registry goes with --bootstrap: the kfake upstream brings its own registry")
		}
		if c.UpstreamPID != 0 {
			return errors.New("--upstream-pid goes with --bootstrap: the kfake upstream is measured by itself")
		}
		if c.Brokers < 1 || c.Brokers > 16 {
			return fmt.Errorf("--brokers %d: want 1 to 16", c.Brokers)
		}
	}
	for _, b := range c.Bootstrap {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("--bootstrap %q is not HOST:PORT", b)
		}
	}
	if c.Registry != "" {
		u, err := url.Parse(c.Registry)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--registry %q is not an http:// or https:// URL", c.Registry)
		}
	}
	if c.UpstreamPID != 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", c.UpstreamPID)); err != nil {
			return fmt.Errorf("--upstream-pid %d: no such process", c.UpstreamPID)
		}
	}
	c.root = repoRoot()
	if c.ProxyBin == "" && c.root == "" {
		return errors.New("outside the schemaproxy repository: set --proxy-bin to a schemaproxy binary")
	}
	if c.ProxyBin != "" {
		if _, err := exec.LookPath(c.ProxyBin); err != nil {
			return fmt.Errorf("--proxy-bin %s: %w", c.ProxyBin, err)
		}
	}
	return nil
}

func hasDuplicates(s []string) bool {
	for i := range s {
		if slices.Contains(s[i+1:], s[i]) {
			return true
		}
	}
	return false
}

// parseRate turns --rate into rateAbs or rateFrac.
func (c *Config) parseRate() error {
	c.rateAbs, c.rateFrac = 0, 0
	switch r := strings.TrimSpace(c.Rate); {
	case r == "" || r == "max":
	case r == "half":
		c.rateFrac = 0.5
	case strings.HasSuffix(r, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(r, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return fmt.Errorf("--rate %q: a percentage is above 0 and at most 100", c.Rate)
		}
		c.rateFrac = p / 100
	default:
		n, err := strconv.ParseFloat(r, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("--rate %q: want max, half, a percentage like 50%%, or records/s above 0", c.Rate)
		}
		c.rateAbs = n
	}
	return nil
}

// repoRoot finds the schemaproxy repository above the working directory,
// or returns "".
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/schemaproxy/schemaproxy\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// byteSize is a flag value in bytes that also accepts KiB and MiB suffixes.
type byteSize int

func (b *byteSize) String() string {
	switch {
	case *b >= 1<<20 && *b%(1<<20) == 0:
		return strconv.Itoa(int(*b)>>20) + "MiB"
	case *b >= 1<<10 && *b%(1<<10) == 0:
		return strconv.Itoa(int(*b)>>10) + "KiB"
	}
	return strconv.Itoa(int(*b))
}

func (b *byteSize) Set(s string) error {
	mult := 1
	num := s
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"k", 1 << 10}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a size in bytes (e.g. 1024, 128KiB, 1MiB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) Type() string { return "size" }
