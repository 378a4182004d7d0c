package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
	"github.com/schemaproxy/schemaproxy/internal/freeport"
)

// orchestrate runs the benchmark the command line describes: for each
// pinning (pinned, then unpinned with --both) and each --mode, a session
// of its own upstream and proxy processes and its rounds; then it writes
// results.json and chart.svg and prints the table (or the JSON).
func orchestrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c Config
	if err := c.parse(args, stderr); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	exe, err := selfExe()
	if err != nil {
		return err
	}
	if c.Out == "" {
		if c.root != "" {
			c.Out = filepath.Join(c.root, "bench", "out")
		} else if c.Out, err = os.MkdirTemp("", "schemaproxy-bench-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	built := c.ProxyBin == ""
	if built {
		if c.ProxyBin, err = buildProxy(ctx, c.root, stderr); err != nil {
			return err
		}
	}
	proxyLog, err := os.Create(filepath.Join(c.Out, "proxy.log"))
	if err != nil {
		return err
	}
	defer proxyLog.Close()

	rep := &Report{
		Format:  1,
		Started: time.Now().UTC(),
		Command: os.Args,
		Config:  c,
		Machine: machineFacts(),
		Proxy:   proxyInfo(c.ProxyBin),
	}
	if built && rep.Proxy.Revision == "" {
		rep.Proxy.Revision, rep.Proxy.Modified = gitRevision(ctx, c.root)
	}
	pins := []bool{c.Pin}
	if c.Both {
		pins = []bool{true, false}
	}
	runID := strconv.FormatUint(rand.Uint64()>>40, 36)
	var runErr error
sessions:
	for _, pin := range pins {
		for _, mode := range c.Modes {
			runner := &sessionRunner{
				c: &c, exe: exe, runID: runID, index: len(rep.Sessions) + 1,
				mode: mode, pin: pin, proxyLog: proxyLog, log: stderr,
			}
			s, err := runner.run(ctx)
			if s != nil && len(s.Rounds) > 0 {
				rep.Sessions = append(rep.Sessions, *s)
			}
			if err != nil {
				runErr = fmt.Errorf("session %q: %w", runner.name(), err)
				break sessions
			}
		}
	}
	rep.Finished = time.Now().UTC()
	rep.Machine.LoadAvgEnd = proc.LoadAvg()
	if len(rep.Sessions) == 0 {
		return runErr
	}
	if err := writeOutputs(rep, c.Out); err != nil {
		return errors.Join(runErr, err)
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return errors.Join(runErr, err)
		}
	} else {
		writeTable(stdout, rep)
		fmt.Fprintf(stdout, "\nwritten: %s, %s\n", filepath.Join(c.Out, "results.json"), filepath.Join(c.Out, "chart.svg"))
	}
	return runErr
}

// writeOutputs writes results.json and chart.svg into dir.
func writeOutputs(rep *Report, dir string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "chart.svg"))
	if err != nil {
		return err
	}
	if err := writeSVG(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// buildProxy builds ./cmd/schemaproxy into bin/schemaproxy.
func buildProxy(ctx context.Context, root string, log io.Writer) (string, error) {
	bin := filepath.Join(root, "bin", "schemaproxy")
	fmt.Fprintf(log, "building %s\n", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/schemaproxy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/schemaproxy: %w\n%s", err, out)
	}
	return bin, nil
}

// proxyInfo reads the version control facts Go stamped into the binary.
func proxyInfo(bin string) ProxyInfo {
	pi := ProxyInfo{Binary: bin}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return pi
	}
	pi.GoVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			pi.Revision = s.Value
		case "vcs.modified":
			pi.Modified = s.Value == "true"
		}
	}
	return pi
}

// gitRevision is the checked-out commit of the repository at root and
// whether tracked files differ from it, for a binary built without VCS
// stamping (GOFLAGS=-buildvcs=false).
func gitRevision(ctx context.Context, root string) (string, bool) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	diff := exec.CommandContext(ctx, "git", "-C", root, "diff", "--quiet", "HEAD", "--")
	return strings.TrimSpace(string(out)), diff.Run() != nil
}

// sessionRunner runs one session: it owns the upstream and proxy
// processes for its length.
type sessionRunner struct {
	c        *Config
	exe      string
	runID    string
	index    int
	mode     string
	pin      bool
	proxyLog io.Writer
	log      io.Writer

	cpus        Placement
	schema      string
	bootstrap   []string
	registry    string
	upstreamPID int    // 0: not measured
	upstream    *child // the kfake upstream process, nil for a real cluster
	memoryLimit int64  // the kfake upstream's GC memory limit, 0 for the runtime's defaults
	upstreamGCs uint32 // its collections at the end of the last round
	proxyPID    int
	proxyAddr   string
	metricsURL  string // the proxy's /metrics
	adm         *kadm.Client
	reg         *sr.Client
}

func (r *sessionRunner) name() string {
	p := "unpinned"
	if r.pin {
		p = "pinned"
	}
	return fmt.Sprintf("%s, mode %s", p, r.mode)
}

// run runs the session. After a failed round it returns the rounds
// done so far, summarized, with the error also in Session.Error.
func (r *sessionRunner) run(ctx context.Context) (*Session, error) {
	c := r.c
	var err error
	if r.cpus, err = placement(r.pin); err != nil {
		return nil, err
	}
	if r.schema, err = eventSchema(); err != nil {
		return nil, err
	}
	s := &Session{Name: r.name(), Mode: r.mode, Pinned: r.pin, CPUs: r.cpus}
	fmt.Fprintf(r.log, "== session %d: %s\n", r.index, s.Name)

	// The upstream: kfake and srfake in a process of their own, or a
	// real cluster with srfake (unless --registry) beside it.
	if len(c.Bootstrap) == 0 || c.Registry == "" {
		brokers := c.Brokers
		if len(c.Bootstrap) > 0 {
			brokers = 0
		}
		up, err := startChild("upstream", r.cpus.Upstream, nil, r.exe, rolePrefix+roleUpstream, fmt.Sprintf("--brokers=%d", brokers))
		if err != nil {
			return nil, err
		}
		defer up.stop(10 * time.Second) //nolint:errcheck // the session's figures are taken
		var ready upstreamReady
		if err := up.next(ctx, "starting", &ready); err != nil {
			return nil, err
		}
		r.registry = ready.Registry
		if brokers > 0 {
			r.bootstrap, r.upstreamPID, r.upstream = ready.Bootstrap, up.PID(), up
			r.memoryLimit = ready.MemoryLimit
		}
	}
	if len(c.Bootstrap) > 0 {
		r.bootstrap = c.Bootstrap
		if c.Registry != "" {
			r.registry = c.Registry
		}
		if c.UpstreamPID != 0 {
			r.upstreamPID = c.UpstreamPID
			restore, err := r.placeUpstream()
			if err != nil {
				return nil, err
			}
			defer restore()
		}
	}
	if r.reg, err = sr.NewClient(sr.URLs(r.registry), sr.UserAgent("schemaproxy-bench")); err != nil {
		return nil, err
	}
	admCl, err := kgo.NewClient(kgo.SeedBrokers(r.bootstrap...), kgo.ClientID("schemaproxy-bench-admin"))
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	r.adm = kadm.NewClient(admCl)
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	meta, err := r.adm.BrokerMetadata(mctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", strings.Join(r.bootstrap, ","), err)
	}
	nodes := meta.Brokers.NodeIDs()
	s.Upstream = r.describeUpstream(nodes)

	// The proxy.
	proxy, args, err := r.startProxy(ctx, slices.Max(nodes))
	if err != nil {
		return nil, err
	}
	defer proxy.stop(10 * time.Second) //nolint:errcheck // the session's figures are taken
	s.ProxyArgs = args

	// Rounds: warm-up pairs, a probe pair if the rate is relative, then
	// the measured pairs, each pair direct first.
	idx := 0
	pair := func(kind string, rate float64) ([2]Round, error) {
		var out [2]Round
		for i, target := range []string{targetDirect, targetProxy} {
			idx++
			rd, err := r.round(ctx, idx, kind, target, rate)
			if err != nil {
				return out, fmt.Errorf("round %d (%s, %s): %w", idx, kind, target, err)
			}
			out[i] = rd
			s.Rounds = append(s.Rounds, rd)
		}
		return out, nil
	}
	failed := func(err error) (*Session, error) {
		s.Error = err.Error()
		s.summarize()
		return s, err
	}
	for range c.Warmup {
		if _, err := pair(kindWarmup, 0); err != nil {
			return failed(err)
		}
	}
	s.Rate = c.rateAbs
	if c.rateFrac > 0 {
		probe, err := pair(kindProbe, 0)
		if err != nil {
			return failed(err)
		}
		s.ProbedMax = min(probe[0].Produce.RecordsPerSec, probe[1].Produce.RecordsPerSec)
		s.Rate = c.rateFrac * s.ProbedMax
		fmt.Fprintf(r.log, "   probed maximum %.0f records/s (the lower of direct and proxied); measuring at %.0f records/s\n", s.ProbedMax, s.Rate)
	}
	for range c.Rounds {
		if _, err := pair(kindMeasure, s.Rate); err != nil {
			return failed(err)
		}
	}
	s.summarize()
	return s, nil
}

// describeUpstream names the upstream for the report.
func (r *sessionRunner) describeUpstream(nodes []int32) string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = strconv.Itoa(int(n))
	}
	if len(r.c.Bootstrap) == 0 {
		gc := "GC from GOGC/GOMEMLIMIT"
		if r.memoryLimit > 0 {
			gc = fmt.Sprintf("GC only at %d MiB and between rounds", r.memoryLimit>>20)
		}
		return fmt.Sprintf("kfake, %d broker(s) (node IDs %s), srfake registry, in their own process, %s", len(nodes), strings.Join(ids, ","), gc)
	}
	reg := "srfake registry in its own process"
	if r.c.Registry != "" {
		reg = "registry " + r.c.Registry
	}
	return fmt.Sprintf("cluster at %s (node IDs %s), %s", strings.Join(r.bootstrap, ","), strings.Join(ids, ","), reg)
}

// placeUpstream pins (or, unpinned, unpins) the --upstream-pid process's
// threads and returns how to put its affinity back.
func (r *sessionRunner) placeUpstream() (func(), error) {
	orig, err := proc.Affinity(r.upstreamPID)
	if err != nil {
		return nil, fmt.Errorf("--upstream-pid: %w", err)
	}
	want := r.cpus.Upstream
	if want == "" {
		cpus, err := proc.AllowedCPUs()
		if err != nil {
			return nil, err
		}
		want = formatCPUs(cpus)
	}
	if want == orig {
		return func() {}, nil
	}
	if err := proc.SetAffinity(r.upstreamPID, want); err != nil {
		return nil, err
	}
	fmt.Fprintf(r.log, "   upstream PID %d moved to CPUs %s (was %s) for this session\n", r.upstreamPID, want, orig)
	return func() {
		if err := proc.SetAffinity(r.upstreamPID, orig); err != nil {
			fmt.Fprintf(r.log, "restoring the upstream's CPUs: %v\n", err)
		}
	}, nil
}

func formatCPUs(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// startProxy runs "schemaproxy serve" in the session's mode, on a free
// bootstrap port with free ports for node IDs up to maxNode after it, and
// waits until it answers Kafka requests.
func (r *sessionRunner) startProxy(ctx context.Context, maxNode int32) (*child, []string, error) {
	listen, base, err := freeport.Find(int(maxNode) + 1)
	if err != nil {
		return nil, nil, err
	}
	metricsAddr, _, err := freeport.Find(0)
	if err != nil {
		return nil, nil, err
	}
	args := []string{
		"serve",
		"--upstream=" + strings.Join(r.bootstrap, ","),
		"--listen=" + listen,
		fmt.Sprintf("--broker-port-base=%d", base),
		"--metrics-listen=" + metricsAddr,
		"--log-level=warn",
	}
	if r.mode != modeOff {
		policy := filepath.Join(r.c.Out, "policy-"+r.mode+".yaml")
		text := fmt.Sprintf("# Written by the schemaproxy bench: every topic's record values are checked\n# in %s mode against the subject <topic>-value.\ndefaults:\n  value: {mode: %s}\n", r.mode, r.mode)
		if err := os.WriteFile(policy, []byte(text), 0o644); err != nil {
			return nil, nil, err
		}
		args = append(args, "--registry="+r.registry, "--policy="+policy)
	}
	args = append(args, r.c.ProxyArgs...)
	fmt.Fprintf(r.proxyLog, "== session %d (%s): %s %s\n", r.index, r.name(), r.c.ProxyBin, strings.Join(args, " "))
	p, err := startChild("proxy", r.cpus.Proxy, r.proxyLog, r.c.ProxyBin, args...)
	if err != nil {
		return nil, nil, err
	}
	if err := r.awaitProxy(ctx, p, listen); err != nil {
		p.stop(5 * time.Second) //nolint:errcheck // reporting the start failure
		if r.mode == modePayload {
			err = fmt.Errorf("%w\n(mode payload needs a schemaproxy build whose policy accepts \"mode: payload\")", err)
		}
		return nil, nil, err
	}
	r.proxyPID, r.proxyAddr, r.metricsURL = p.PID(), listen, "http://"+metricsAddr+"/metrics"
	return p, args, nil
}

// awaitProxy waits until the proxy at listen answers a metadata request
// naming every upstream broker, or exits, or 30 s pass.
func (r *sessionRunner) awaitProxy(ctx context.Context, p *child, listen string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if p.Exited() {
			return p.fail("starting", fmt.Errorf("%w: it exited", errProxyStart))
		}
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", listen)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-ctx.Done():
			return p.fail("starting", fmt.Errorf("%w: nothing listens on %s after 30s", errProxyStart, listen))
		case <-time.After(50 * time.Millisecond):
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(listen), kgo.ClientID("schemaproxy-bench-admin"))
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
		return p.fail("starting", fmt.Errorf("%w: metadata through it: %v", errProxyStart, err))
	}
	return nil
}

// round runs one produce phase (and a consume phase with --consume) on a
// fresh topic, deleted afterwards with its subject.
func (r *sessionRunner) round(ctx context.Context, idx int, kind, target string, rate float64) (Round, error) {
	c := r.c
	rd := Round{Index: idx, Kind: kind, Target: target,
		Topic: fmt.Sprintf("schemaproxy-bench-%s-s%d-%02d-%s", r.runID, r.index, idx, target)}
	subject := rd.Topic + "-value"
	resp, err := r.adm.CreateTopic(ctx, int32(c.Partitions), -1, nil, rd.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return rd, fmt.Errorf("creating topic %s: %w", rd.Topic, err)
	}
	defer r.cleanup(rd.Topic, subject)
	ss, err := r.reg.CreateSchema(ctx, subject, sr.Schema{Schema: r.schema, Type: sr.TypeAvro})
	if err != nil {
		return rd, fmt.Errorf("registering %s: %w", subject, err)
	}

	addr := r.bootstrap
	if target == targetProxy {
		addr = []string{r.proxyAddr}
	}
	lc := loadConfig{
		Kind: kindProduce, Bootstrap: addr, Topic: rd.Topic, Partitions: c.Partitions, Producers: c.Producers,
		Records: c.Records, Duration: c.Duration, Rate: rate, RecordSize: int(c.RecordSize),
		Compression: c.Compression, Acks: c.Acks, Linger: c.Linger, BatchBytes: int(c.BatchBytes),
		SchemaID: ss.ID, Timeout: c.Timeout,
	}
	var res loadResult
	rd.Produce, rd.Primed, res, err = r.phase(ctx, &lc, target)
	if err != nil {
		return rd, fmt.Errorf("producing: %w", err)
	}
	if res.Errors > 0 {
		return rd, fmt.Errorf("%w: %d of %d records failed, the first with: %s", errRecordsFailed, res.Errors, res.Errors+res.Records, res.FirstError)
	}
	r.progress(&rd, kindProduce, &rd.Produce)
	if c.Consume {
		lc.Kind, lc.Expect = kindConsume, rd.Produce.Records+rd.Primed
		ph, _, res, err := r.phase(ctx, &lc, target)
		if err != nil {
			return rd, fmt.Errorf("consuming: %w", err)
		}
		if res.Errors > 0 {
			return rd, fmt.Errorf("%w: consuming: %s", errRecordsFailed, res.FirstError)
		}
		rd.Consume = &ph
		r.progress(&rd, kindConsume, &ph)
	}
	return rd, nil
}

// cleanup deletes a round's topic and subject, so the upstream's memory
// does not grow from round to round, and has a kfake upstream collect its
// garbage before the next round.
func (r *sessionRunner) cleanup(topic, subject string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.adm.DeleteTopic(ctx, topic); err != nil {
		fmt.Fprintf(r.log, "   deleting topic %s: %v\n", topic, err)
	}
	if _, err := r.reg.DeleteSubject(ctx, subject, sr.SoftDelete); err == nil {
		r.reg.DeleteSubject(ctx, subject, sr.HardDelete) //nolint:errcheck // the registry's memory only
	}
	if r.upstream == nil {
		return
	}
	var gc upstreamGC
	if err := r.upstream.Send("gc"); err != nil {
		fmt.Fprintf(r.log, "   upstream GC: %v\n", err)
	} else if err := r.upstream.next(ctx, "collecting garbage", &gc); err != nil {
		fmt.Fprintf(r.log, "   upstream GC: %v\n", err)
	} else {
		if r.memoryLimit > 0 && r.upstreamGCs > 0 && gc.NumGC > r.upstreamGCs+1 {
			fmt.Fprintf(r.log, "   the upstream reached its memory limit: %d collection(s) during the round\n", gc.NumGC-r.upstreamGCs-1)
		}
		r.upstreamGCs = gc.NumGC
	}
}

// phase runs one load process: it sets up, then between the start line
// and its result the proxy's and the upstream's CPU clocks are read and
// the proxy's peak RSS is taken.
func (r *sessionRunner) phase(ctx context.Context, lc *loadConfig, target string) (Phase, int64, loadResult, error) {
	var ph Phase
	name := fmt.Sprintf("load generator (%s, %s)", lc.Kind, target)
	ch, err := startChild(name, r.cpus.Load, nil, r.exe, lc.args()...)
	if err != nil {
		return ph, 0, loadResult{}, err
	}
	defer ch.stop(5 * time.Second) //nolint:errcheck // a failure was reported by next
	ctx, cancel := context.WithTimeout(ctx, lc.Timeout+time.Minute)
	defer cancel()
	var ready loadReady
	if err := ch.next(ctx, "setting up", &ready); err != nil {
		return ph, 0, loadResult{}, err
	}

	proxied := target == targetProxy
	// The setup primed each partition through the proxy: its last
	// responses may not be counted yet, so the start waits for them too.
	var residence0 histSnap
	if proxied && lc.Kind == kindProduce {
		residence0 = r.scrapeSettled(ctx, histSnap{})
	}
	var proxyCPU0, upCPU0 time.Duration
	var rss *proc.PeakRSS
	if proxied {
		rss = proc.StartPeakRSS(r.proxyPID)
		if proxyCPU0, err = proc.CPU(r.proxyPID); err != nil {
			return ph, 0, loadResult{}, fmt.Errorf("proxy CPU: %w", err)
		}
	}
	if r.upstreamPID != 0 {
		upCPU0, _ = proc.CPU(r.upstreamPID)
	}
	if err := ch.Send("go"); err != nil {
		return ph, 0, loadResult{}, ch.fail("starting", err)
	}
	var res loadResult
	if err := ch.next(ctx, "running", &res); err != nil {
		return ph, 0, loadResult{}, err
	}
	if proxied {
		cpu, err := proc.CPU(r.proxyPID)
		if err != nil {
			return ph, 0, loadResult{}, fmt.Errorf("proxy CPU: %w", err)
		}
		secs := (cpu - proxyCPU0).Seconds()
		ph.ProxyCPUSeconds = &secs
		peak, method, err := rss.End()
		if err == nil {
			ph.ProxyPeakRSSBytes, ph.ProxyRSSMethod = &peak, method
		}
		if residence0 != nil {
			if end := r.scrapeSettled(ctx, residence0); end != nil {
				ph.ProxyResidence = residence(residence0, end)
			}
		}
	}
	if r.upstreamPID != 0 {
		if cpu, err := proc.CPU(r.upstreamPID); err == nil {
			secs := (cpu - upCPU0).Seconds()
			ph.UpstreamCPUSeconds = &secs
		}
	}
	ph.Records, ph.Bytes, ph.Seconds, ph.Errors = res.Records, res.Bytes, res.Seconds, res.Errors
	ph.Latency, ph.LoadCPUSeconds = res.Latency, res.CPUSeconds
	ph.fill()
	return ph, ready.Primed, res, nil
}

// scrape reads the proxy's produce residence histogram when want is
// true; a failed scrape is reported on the log and leaves the phase
// without residence figures.
func (r *sessionRunner) scrape(ctx context.Context, want bool) histSnap {
	if !want {
		return nil
	}
	snap, err := scrapeResidence(ctx, r.metricsURL)
	if err != nil {
		fmt.Fprintf(r.log, "   %v (no proxy residence figures for this phase)\n", err)
		return nil
	}
	return snap
}

// scrapeSettled scrapes at a phase's start (start empty: every request
// since the proxy started) or end. The proxy observes each leg just after
// its write, so the client can finish before the last observations land,
// and a request's leg can even land after its response's (the response
// is relayed while the reading goroutine waits for a CPU): with acks, it
// scrapes again, for up to five seconds on a loaded machine, until two
// scrapes in a row count the same requests and as many responses.
func (r *sessionRunner) scrapeSettled(ctx context.Context, start histSnap) histSnap {
	deadline := time.Now().Add(5 * time.Second)
	prev := int64(-1)
	for {
		end := r.scrape(ctx, true)
		if end == nil || r.c.Acks == "0" || time.Now().After(deadline) {
			return end
		}
		res := residence(start, end)
		if res == nil {
			return end
		}
		if res.Responses == res.Requests && res.Requests == prev {
			return end
		}
		prev = res.Requests
		select {
		case <-ctx.Done():
			return end
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// progress prints one line per phase on the log.
func (r *sessionRunner) progress(rd *Round, kind string, p *Phase) {
	line := fmt.Sprintf("   round %d %-7s %-6s %-7s %9d records %9.0f rec/s %8.1f MB/s", rd.Index, rd.Kind, rd.Target, kind, p.Records, p.RecordsPerSec, p.MBPerSec)
	if p.Latency != nil {
		line += fmt.Sprintf("  p50 %.2f p99 %.2f p99.9 %.2f ms", p.Latency.P50, p.Latency.P99, p.Latency.P999)
	}
	if p.ProxyCPUSecondsPerGB != nil {
		line += fmt.Sprintf("  proxy %.3f CPU s/GB", *p.ProxyCPUSecondsPerGB)
	}
	if res := p.ProxyResidence; res != nil {
		line += fmt.Sprintf("  in proxy p50/p99 request %.3f/%.3f response %.3f/%.3f ms", res.RequestP50, res.RequestP99, res.ResponseP50, res.ResponseP99)
	}
	fmt.Fprintln(r.log, line)
}
