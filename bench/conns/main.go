// Command conns measures schemaproxy's memory under connection scale and
// behind a client that never reads, from /proc of a real schemaproxy serve
// process:
//
//   - idle: N client connections (default 10,000, fewer when the proxy's
//     fd limit cannot hold 2 per connection) each do one ApiVersions round
//     trip and then idle; the proxy's RSS before and after gives KiB per
//     idle connection (target <= 32), with its own heap, stack and
//     goroutine figures from /metrics beside it.
//   - slow: one client pipelines 1 MiB Produce (acks=1) and 1 MiB Fetch
//     requests and reads nothing; the proxy's RSS is sampled and must stay
//     within max-in-flight x the response size, and flat.
//
// Three processes: this one (the clients), the upstream (a one-broker
// kfake cluster: this program re-executed with SCHEMAPROXY_CONNS_ROLE=
// upstream, produce discarded, fetch served from a canned batch) and the
// proxy (bin/schemaproxy serve), so the proxy's /proc figures are its own
// and its descriptors (two per connection: client and upstream) are the
// only ones counted against its limit. It prints a table and, with --out,
// writes JSON. Linux only (/proc).
//
// It deliberately does not measure throughput, CPU or TLS.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// config is everything the command is told on its command line.
type config struct {
	ProxyBin        string
	Conns           int
	DialConcurrency int
	Settle          time.Duration
	SlowDuration    time.Duration
	SampleEvery     time.Duration
	MaxInFlight     []int
	BatchBytes      int
	FetchBytes      int
	Scenarios       []string
	Out             string
}

func (c *config) flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ProxyBin, "proxy-bin", "bin/schemaproxy", "schemaproxy binary to measure (build it with go build -o bin/schemaproxy ./cmd/schemaproxy)")
	fs.IntVar(&c.Conns, "conns", 10000, "idle client connections to open (fewer if the proxy's fd limit cannot hold two per connection)")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 64, "connections set up at once")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "idle time between the last connection and the after measurement")
	fs.DurationVar(&c.SlowDuration, "slow-duration", 10*time.Second, "how long the never-reading client runs per --max-in-flight value")
	fs.DurationVar(&c.SampleEvery, "sample-every", 100*time.Millisecond, "RSS sampling interval in the slow-reader scenario")
	fs.IntSliceVar(&c.MaxInFlight, "max-in-flight", []int{64, 8}, "proxy --max-in-flight values the slow-reader scenario runs with, one proxy each")
	fs.IntVar(&c.BatchBytes, "batch-bytes", 1<<20, "record batch size of each Produce request, in bytes")
	fs.IntVar(&c.FetchBytes, "fetch-bytes", 1<<20, "max bytes of each Fetch request (and of its partition), in bytes")
	fs.StringSliceVar(&c.Scenarios, "scenarios", []string{"idle", "slow"}, "scenarios to run: idle, slow")
	fs.StringVar(&c.Out, "out", "", "write the JSON report to this file (default: none)")
}

func (c *config) validate() error {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		return errors.New("needs Linux /proc to read the proxy's RSS")
	}
	if _, err := os.Stat(c.ProxyBin); err != nil {
		return fmt.Errorf("--proxy-bin: %w (build it with: go build -o bin/schemaproxy ./cmd/schemaproxy)", err)
	}
	if c.Conns < 1 || c.DialConcurrency < 1 {
		return errors.New("--conns and --dial-concurrency must be at least 1")
	}
	if c.SlowDuration <= 0 || c.SampleEvery <= 0 {
		return errors.New("--slow-duration and --sample-every must be positive")
	}
	for _, n := range c.MaxInFlight {
		if n < 1 {
			return fmt.Errorf("--max-in-flight %d must be at least 1", n)
		}
	}
	if c.BatchBytes < 1<<10 || c.FetchBytes < 1 {
		return errors.New("--batch-bytes must be at least 1024 and --fetch-bytes positive")
	}
	for _, s := range c.Scenarios {
		if s != "idle" && s != "slow" {
			return fmt.Errorf("--scenarios: unknown %q, want idle or slow", s)
		}
	}
	return nil
}

func (c *config) has(scenario string) bool {
	for _, s := range c.Scenarios {
		if s == scenario {
			return true
		}
	}
	return false
}

// report is the JSON the command writes.
type report struct {
	Started   time.Time    `json:"started"`
	GoVersion string       `json:"go_version"`
	CPUs      int          `json:"cpus"`
	ProxyBin  string       `json:"proxy_bin"`
	Upstream  string       `json:"upstream"`
	FDLimit   uint64       `json:"client_fd_limit"`
	Idle      *idleResult  `json:"idle,omitempty"`
	Slow      []slowResult `json:"slow_reader,omitempty"`
}

func main() {
	if ok, err := maybeRunRole(os.Stdin, os.Stdout); ok {
		if err != nil {
			fmt.Fprintf(os.Stderr, "conns: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(cli(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// cli parses args, runs the scenarios and returns the exit code: 0 done,
// 1 failed, 2 bad command line.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := pflag.NewFlagSet("conns", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: go run ./bench/conns [flags]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := c.validate(); err != nil {
		fmt.Fprintf(stderr, "conns: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rep, err := run(ctx, c, stderr)
	printTable(stdout, rep)
	if c.Out != "" {
		if werr := writeJSON(c.Out, rep); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "conns: %v\n", err)
		return 1
	}
	return 0
}

// run starts the upstream and runs the chosen scenarios, each against a
// fresh proxy process. progress gets one line per step.
func run(ctx context.Context, c config, progress io.Writer) (report, error) {
	rep := report{Started: time.Now().UTC(), GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), ProxyBin: c.ProxyBin,
		Upstream: "kfake, 1 broker, own process, produce discarded, fetch from a canned batch"}
	lim, err := proc.RaiseNoFile()
	if err != nil {
		return rep, err
	}
	rep.FDLimit = lim
	up, err := startUpstream(ctx)
	if err != nil {
		return rep, err
	}
	defer up.stop()
	if c.has("idle") {
		fmt.Fprintf(progress, "idle: opening %d connections\n", c.Conns)
		r, err := runIdle(ctx, c, up)
		rep.Idle = &r
		if err != nil {
			return rep, fmt.Errorf("idle: %w", err)
		}
	}
	if c.has("slow") {
		for _, n := range c.MaxInFlight {
			fmt.Fprintf(progress, "slow reader: --max-in-flight %d for %v\n", n, c.SlowDuration)
			r, err := runSlow(ctx, c, up, n)
			rep.Slow = append(rep.Slow, r)
			if err != nil {
				return rep, fmt.Errorf("slow reader, max-in-flight %d: %w", n, err)
			}
		}
	}
	return rep, nil
}

func writeJSON(path string, rep report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func printTable(w io.Writer, rep report) {
	if r := rep.Idle; r != nil && r.Conns > 0 {
		fmt.Fprintf(w, "\nIdle connections (proxy pid RSS from /proc, upstream %s)\n", r.UpstreamDial)
		if r.FitNote != "" {
			fmt.Fprintf(w, "  note: %s\n", r.FitNote)
		}
		fmt.Fprintf(w, "  %-34s %d (connect %.1fs, settle %.1fs)\n", "connections", r.Conns, r.ConnectSeconds, r.SettleSeconds)
		fmt.Fprintf(w, "  %-34s %.1f -> %.1f MiB\n", "proxy RSS", mib(r.RSSBefore), mib(r.RSSAfter))
		fmt.Fprintf(w, "  %-34s %.1f KiB (target <= %.0f: %s)\n", "RSS per connection", r.RSSPerConnKiB, r.TargetKiB, yesNo(r.WithinTarget))
		fmt.Fprintf(w, "  %-34s %.1f KiB heap + %.1f KiB stack\n", "Go memory per connection", r.HeapInusePerConnKiB, r.StackInusePerConnKiB)
		fmt.Fprintf(w, "  %-34s %d -> %d (%.2f per connection)\n", "goroutines", r.GoroutinesBefore, r.GoroutinesAfter, r.GoroutinesPerConn)
		fmt.Fprintf(w, "  %-34s %d -> %d of %d\n", "proxy fds", r.FDsBefore, r.FDsAfter, r.FDLimit)
	}
	if len(rep.Slow) > 0 {
		fmt.Fprintf(w, "\nClient that never reads (Produce %d B acks=1 + Fetch, responses %d B / %d B)\n",
			rep.Slow[0].ProduceRequestBytes, rep.Slow[0].ProduceResponseBytes, rep.Slow[0].FetchResponseBytes)
		fmt.Fprintf(w, "  %-9s %9s %9s %9s %9s %9s %6s %9s %6s %13s %13s\n",
			"in-flight", "base MiB", "peak MiB", "HWM MiB", "grow MiB", "bound MiB", "within", "late MiB", "flat", "sent h/end", "read h/end")
		for _, r := range rep.Slow {
			fmt.Fprintf(w, "  %-9d %9.1f %9.1f %9.1f %9.1f %9.1f %6s %9.1f %6s %13s %13s\n",
				r.MaxInFlight, mib(r.RSSBaseline), mib(r.RSSPeak), mib(r.VmHWM), mib(r.Growth), mib(r.Bound), yesNo(r.WithinBound),
				mib(r.LateGrowth), yesNo(r.Flat), fmt.Sprintf("%d/%d", r.SentHalf, r.SentEnd), fmt.Sprintf("%d/%d", r.ReadHalf, r.ReadEnd))
		}
		for _, r := range rep.Slow {
			fmt.Fprintf(w, "  in-flight %d: kernel socket queues at the end (not RSS): send %.1f MiB, receive %.1f MiB\n",
				r.MaxInFlight, mib(r.SocketSendQueued), mib(r.SocketRecvQueued))
		}
	}
}
