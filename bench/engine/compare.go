package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
	"github.com/schemaproxy/schemaproxy/internal/freeport"
)

// runner runs the comparison: it starts every process and reads the
// proxy's accounting.
type runner struct {
	cfg      config
	exe      string   // this program, started again for each role
	env      []string // added to every role process's environment
	spBin    string   // the schemaproxy binary
	pin      bool
	idle     int // idle connections per engine and round
	progress io.Writer
}

// fdReserve is what an idle round leaves of the fd limit for listeners,
// pipes and the runtime, beyond two descriptors per proxied connection.
const fdReserve = 256

func compareMain(ctx context.Context, c config, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, err := newRunner(c, exe, nil, stderr)
	if err != nil {
		return err
	}
	if r.spBin == "" && slices.Contains(c.Engines, engineSchemaproxy) {
		dir, err := os.MkdirTemp("", "bench-engine-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if r.spBin, err = buildSchemaproxy(ctx, dir); err != nil {
			return err
		}
	}
	rep, err := r.compare(ctx)
	if err != nil {
		return err
	}
	rep.Command = "go run ./bench/engine " + strings.Join(os.Args[1:], " ")
	writeTable(stdout, rep)
	if c.Out != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.Out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newRunner checks what the machine allows: pinning, and how many idle
// connections the fd limit holds.
func newRunner(c config, exe string, env []string, progress io.Writer) (*runner, error) {
	r := &runner{cfg: c, exe: exe, env: env, spBin: c.Schemaproxy, progress: progress}
	canPin, _ := proc.CanPin()
	switch c.Pin {
	case "on":
		if !canPin {
			return nil, errors.New("--pin on needs taskset and at least 2 CPUs")
		}
		r.pin = true
	case "auto":
		r.pin = canPin
	}
	limit := noFileLimit()
	most := (limit - fdReserve) / 2
	switch {
	case c.IdleConns > most:
		return nil, fmt.Errorf("--idle-conns %d needs %d descriptors in the proxy; the limit is %d", c.IdleConns, 2*c.IdleConns+fdReserve, limit)
	case c.IdleConns > 0:
		r.idle = c.IdleConns
	default:
		r.idle = max(1, min(10000, most))
	}
	return r, nil
}

// buildSchemaproxy builds the schemaproxy binary into dir.
func buildSchemaproxy(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "schemaproxy")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/schemaproxy/schemaproxy/cmd/schemaproxy")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building schemaproxy (or pass --schemaproxy): %w\n%s", err, out)
	}
	return bin, nil
}

// compare runs every engine once per round, rotating the order each round,
// and summarises.
func (r *runner) compare(ctx context.Context) (*report, error) {
	rep := &report{
		Started:  time.Now().UTC(),
		Machine:  readMachine(),
		Pinned:   r.pin,
		Settings: r.settings(),
	}
	rep.Pinning = "unpinned: proxy, load and upstream share every CPU"
	if r.pin {
		rep.Pinning = "pinned with taskset: proxy on CPU 1, load client and upstream sink on CPU 0"
	}
	n := len(r.cfg.Engines)
	for round := 1; round <= r.cfg.Rounds; round++ {
		for i := range n {
			e := r.cfg.Engines[(i+round-1)%n]
			tp, err := r.throughput(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s, throughput: %w", round, e, err)
			}
			idle, err := r.idleRound(ctx, e)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s, idle: %w", round, e, err)
			}
			rr := roundResult{Round: round, Engine: e, Throughput: tp, Idle: idle}
			rep.Rounds = append(rep.Rounds, rr)
			fmt.Fprintf(r.progress, "round %d %-11s %6.3f CPU-s/GB %7.0f MB/s  peak RSS %6.1f MiB | %d idle: %6.1f KiB/conn, %.2f fds/conn\n",
				round, e, tp.CPUPerGB, tp.MBps, mib(tp.PeakRSS), idle.Conns, kib(idle.RSSPerConn), idle.FDsPerConn)
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.Medians = summarise(r.cfg.Engines, rep.Rounds)
	return rep, nil
}

func (r *runner) settings() settings {
	return settings{
		Engines: r.cfg.Engines, Rounds: r.cfg.Rounds, ProduceMiB: r.cfg.ProduceMiB, BatchBytes: r.cfg.BatchBytes,
		Conns: r.cfg.Conns, Depth: r.cfg.Depth, ProduceVersion: r.cfg.ProduceVersion, IdleConns: r.idle,
		IdleSettle: r.cfg.IdleSettle.String(), GnetLoops: r.cfg.GnetLoops, GnetReadBuffer: r.cfg.GnetReadBuffer,
		FDLimit: noFileLimit(),
	}
}

// role starts this program as role on cpu.
func (r *runner) role(name string, cpu int, args ...string) (*child, error) {
	return startChild(name, r.pin, cpu, r.env, append([]string{r.exe, "--role=" + name}, args...)...)
}

// startSink starts the upstream sink broker and returns it and its address.
func (r *runner) startSink(ctx context.Context) (*child, string, error) {
	sink, err := r.role(roleSink, 0, "--listen=127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr, err := sink.expect(ctx, "ready ", 30*time.Second)
	if err != nil {
		sink.Kill()
		return nil, "", err
	}
	return sink, addr, nil
}

// stopSink stops the sink and returns what it counted.
func stopSink(sink *child) (sinkStats, error) {
	var st sinkStats
	out, err := sink.stop(false)
	if err != nil {
		return st, err
	}
	if len(out) == 0 {
		return st, errors.New("sink reported nothing")
	}
	if err := json.Unmarshal([]byte(out[len(out)-1]), &st); err != nil {
		return st, fmt.Errorf("sink report: %w", err)
	}
	if st.FirstError != "" {
		return st, fmt.Errorf("sink: %s", st.FirstError)
	}
	return st, nil
}

// startProxy starts engine e on CPU 1 in front of upstream and returns it
// and the address clients connect to.
func (r *runner) startProxy(ctx context.Context, e, upstream string) (*child, string, error) {
	if e == engineSchemaproxy {
		addr, base, err := freeport.Find(1)
		if err != nil {
			return nil, "", err
		}
		p, err := startChild(e, r.pin, 1, nil, r.spBin, "serve", "--listen="+addr, "--upstream="+upstream,
			"--broker-port-base="+strconv.Itoa(base), "--metrics-listen=", "--log-level=warn", "--shutdown-timeout=2s")
		if err != nil {
			return nil, "", err
		}
		if err := waitDial(ctx, p, addr, 30*time.Second); err != nil {
			p.Kill()
			return nil, "", err
		}
		return p, addr, nil
	}
	listen, _, err := freeport.Find(0)
	if err != nil {
		return nil, "", err
	}
	p, err := r.role(e, 1, "--listen="+listen, "--upstream="+upstream,
		"--gnet-loops="+strconv.Itoa(r.cfg.GnetLoops), "--gnet-read-buffer="+strconv.Itoa(r.cfg.GnetReadBuffer))
	if err != nil {
		return nil, "", err
	}
	addr, err := p.expect(ctx, "ready ", 30*time.Second)
	if err != nil {
		p.Kill()
		return nil, "", err
	}
	return p, addr, nil
}

// throughput sends the Produce load through engine e and reads the proxy's
// CPU time around it: from the moment every load connection is open and
// has had its ApiVersions answered to the last response.
func (r *runner) throughput(ctx context.Context, e string) (throughputResult, error) {
	var res throughputResult
	sink, upstream, err := r.startSink(ctx)
	if err != nil {
		return res, err
	}
	defer sink.Kill()
	proxy, addr, err := r.startProxy(ctx, e, upstream)
	if err != nil {
		return res, err
	}
	defer proxy.Kill()
	bytes := int64(r.cfg.ProduceMiB) << 20
	load, err := r.role(roleLoad, 0, "--addr="+addr, "--bytes="+strconv.FormatInt(bytes, 10),
		"--conns="+strconv.Itoa(r.cfg.Conns), "--depth="+strconv.Itoa(r.cfg.Depth),
		"--batch-bytes="+strconv.Itoa(r.cfg.BatchBytes), "--produce-version="+strconv.Itoa(int(r.cfg.ProduceVersion)))
	if err != nil {
		return res, err
	}
	defer load.Kill()
	if _, err := load.expect(ctx, "ready", 60*time.Second); err != nil {
		return res, err
	}
	before, err := sampleProc(proxy.PID())
	if err != nil {
		return res, err
	}
	if err := load.Send("go"); err != nil {
		return res, err
	}
	// A generous bound: 5 MB/s would be a broken run, not a slow one.
	line, err := load.line(ctx, time.Minute+time.Duration(bytes/5e6)*time.Second)
	if err != nil {
		return res, err
	}
	after, err := sampleProc(proxy.PID())
	if err != nil {
		return res, err
	}
	var lr loadResult
	if err := json.Unmarshal([]byte(line), &lr); err != nil {
		return res, fmt.Errorf("load report %q: %w", line, err)
	}
	if _, err := load.stop(false); err != nil {
		return res, err
	}
	if _, err := proxy.stop(e == engineSchemaproxy); err != nil {
		return res, err
	}
	st, err := stopSink(sink)
	if err != nil {
		return res, err
	}
	if st.ProduceBytes != lr.ProduceBytes || st.ProduceRequests != lr.Requests || st.BadBatches != 0 {
		return res, fmt.Errorf("the sink got %d Produce requests, %d bytes (%d bad batches); the client sent %d, %d bytes",
			st.ProduceRequests, st.ProduceBytes, st.BadBatches, lr.Requests, lr.ProduceBytes)
	}
	res = throughputResult{
		Requests: lr.Requests, FrameBytes: lr.FrameBytes, BytesSent: lr.ProduceBytes, BytesForwarded: st.ProduceBytes,
		Seconds: lr.Seconds, MBps: float64(lr.ProduceBytes) / 1e6 / lr.Seconds,
		CPUSeconds: after.CPU - before.CPU, PeakRSS: after.HWM, RSSAfter: after.RSS, Threads: after.Threads,
	}
	res.CPUPerGB = res.CPUSeconds / (float64(res.BytesForwarded) / 1e9)
	return res, nil
}

// idleRound opens r.idle connections through engine e, each answered once,
// and reads how much the proxy's RSS and descriptors grew.
func (r *runner) idleRound(ctx context.Context, e string) (idleResult, error) {
	var res idleResult
	sink, upstream, err := r.startSink(ctx)
	if err != nil {
		return res, err
	}
	defer sink.Kill()
	proxy, addr, err := r.startProxy(ctx, e, upstream)
	if err != nil {
		return res, err
	}
	defer proxy.Kill()
	if err := sleep(ctx, 300*time.Millisecond); err != nil { // start-up allocations settle
		return res, err
	}
	before, err := sampleProc(proxy.PID())
	if err != nil {
		return res, err
	}
	idle, err := r.role(roleIdle, 0, "--addr="+addr, "--conns="+strconv.Itoa(r.idle))
	if err != nil {
		return res, err
	}
	defer idle.Kill()
	if _, err := idle.expect(ctx, "ready", 5*time.Minute); err != nil {
		return res, err
	}
	if err := sleep(ctx, r.cfg.IdleSettle); err != nil {
		return res, err
	}
	after, err := sampleProc(proxy.PID())
	if err != nil {
		return res, err
	}
	if _, err := idle.stop(false); err != nil {
		return res, err
	}
	if _, err := proxy.stop(e == engineSchemaproxy); err != nil {
		return res, err
	}
	st, err := stopSink(sink)
	if err != nil {
		return res, err
	}
	if st.Conns < int64(r.idle) {
		return res, fmt.Errorf("the sink saw %d upstream connections for %d idle clients", st.Conns, r.idle)
	}
	n := float64(r.idle)
	res = idleResult{
		Conns: r.idle, RSSBefore: before.RSS, RSSAfter: after.RSS,
		RSSPerConn:  float64(after.RSS-before.RSS) / n,
		FDsPerConn:  float64(after.FDs-before.FDs) / n,
		ThreadsIdle: after.Threads,
	}
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
