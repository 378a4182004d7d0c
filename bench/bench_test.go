package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/schemaproxy/schemaproxy/examples"
	"github.com/schemaproxy/schemaproxy/metrics"
)

// TestMain lets the test binary play the bench's child roles: the
// orchestrator under test re-runs its own binary, which is this one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], rolePrefix) {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestEndToEnd runs one tiny direct + proxied round pair in mode off and
// in mode id, with consumers, against kfake and the real proxy binary,
// and checks the report's structure and sanity.
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build the proxy")
	}
	root := repoRoot()
	if root == "" {
		t.Fatal("not inside the schemaproxy repository")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "schemaproxy")
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/schemaproxy")...)
	build.Dir = root
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/schemaproxy: %v\n%s", err, out)
	}
	t.Logf("built the proxy in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()

	const records, size, partitions = 300, 512, 4
	out := filepath.Join(dir, "out")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{
		"--records=300", "--record-size=512", "--partitions=4", "--rounds=1", "--warmup=0",
		"--mode=off,id", "--consume", "--pin=false", "--json",
		"--proxy-bin=" + bin, "--out=" + out,
	}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d\nstderr:\n%s", code, stderr.String())
	}
	t.Logf("ran the bench in %v", time.Since(start).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	var printed Report
	if err := json.Unmarshal(stdout.Bytes(), &printed); err != nil {
		t.Fatalf("--json output: %v", err)
	}
	if !reflect.DeepEqual(printed, rep) {
		t.Errorf("--json output differs from results.json")
	}
	again, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var rep2 Report
	if err := json.Unmarshal(again, &rep2); err != nil || !reflect.DeepEqual(rep, rep2) {
		t.Errorf("results.json does not round-trip (err %v)", err)
	}

	if got := len(rep.Sessions); got != 2 {
		t.Fatalf("got %d sessions, want 2", got)
	}
	if rep.Machine.CPUsOnline < 1 || rep.Machine.GoVersion == "" || rep.Machine.Kernel == "" {
		t.Errorf("machine facts missing: %+v", rep.Machine)
	}
	for i, s := range rep.Sessions {
		if want := []string{modeOff, modeID}[i]; s.Mode != want || s.Pinned {
			t.Errorf("session %d: mode %s pinned %v, want mode %s unpinned", i, s.Mode, s.Pinned, want)
		}
		if len(s.Rounds) != 2 {
			t.Fatalf("session %s: got %d rounds, want 2", s.Name, len(s.Rounds))
		}
		for j, rd := range s.Rounds {
			target := []string{targetDirect, targetProxy}[j]
			if rd.Target != target || rd.Kind != kindMeasure {
				t.Errorf("%s round %d: %s %s, want measure %s", s.Name, rd.Index, rd.Kind, rd.Target, target)
			}
			p := rd.Produce
			if p.Records != records || p.Bytes != records*size || p.Errors != 0 {
				t.Errorf("%s round %d: produced %d records, %d bytes, %d errors; want %d, %d, 0", s.Name, rd.Index, p.Records, p.Bytes, p.Errors, records, records*size)
			}
			if rd.Primed != partitions {
				t.Errorf("%s round %d: %d primed records, want %d", s.Name, rd.Index, rd.Primed, partitions)
			}
			if p.Seconds <= 0 || p.RecordsPerSec <= 0 || p.MBPerSec <= 0 || p.LoadCPUSeconds <= 0 {
				t.Errorf("%s round %d: produce figures not positive: %+v", s.Name, rd.Index, p)
			}
			if l := p.Latency; l == nil || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
				t.Errorf("%s round %d: latency %+v not ordered", s.Name, rd.Index, p.Latency)
			}
			if p.UpstreamCPUSeconds == nil || *p.UpstreamCPUSeconds < 0 {
				t.Errorf("%s round %d: no upstream CPU", s.Name, rd.Index)
			}
			if target == targetProxy {
				if p.ProxyCPUSeconds == nil || *p.ProxyCPUSeconds <= 0 || p.ProxyCPUSecondsPerGB == nil || *p.ProxyCPUSecondsPerGB <= 0 {
					t.Errorf("%s round %d: proxy CPU missing or zero", s.Name, rd.Index)
				}
				if p.ProxyPeakRSSBytes == nil || *p.ProxyPeakRSSBytes < 1<<20 || p.ProxyRSSMethod == "" {
					t.Errorf("%s round %d: proxy peak RSS missing", s.Name, rd.Index)
				}
				if r := p.ProxyResidence; r == nil || r.Requests <= 0 || r.Responses != r.Requests ||
					r.RequestP50 <= 0 || r.RequestP50 > r.RequestP99 || r.ResponseP50 <= 0 || r.ResponseP50 > r.ResponseP99 {
					t.Errorf("%s round %d: proxy residence %+v, want requests answered one for one and ordered percentiles", s.Name, rd.Index, p.ProxyResidence)
				}
			} else if p.ProxyCPUSeconds != nil || p.ProxyResidence != nil {
				t.Errorf("%s round %d: a direct round has proxy figures", s.Name, rd.Index)
			}
			if c := rd.Consume; c == nil || c.Records != records+rd.Primed || c.Bytes != (records+rd.Primed)*size || c.Latency != nil || c.ProxyResidence != nil {
				t.Errorf("%s round %d: consume %+v, want %d records", s.Name, rd.Index, rd.Consume, records+rd.Primed)
			}
		}
		d, p := s.Median.Direct.Produce, s.Median.Proxy.Produce
		if s.Median.Direct.Rounds != 1 || s.Median.Proxy.Rounds != 1 {
			t.Errorf("%s: medians over %d and %d rounds, want 1 and 1", s.Name, s.Median.Direct.Rounds, s.Median.Proxy.Rounds)
		}
		if want := p.RecordsPerSec / d.RecordsPerSec; math.Abs(s.Ratio.ProduceThroughput-want) > 1e-9 || want <= 0 {
			t.Errorf("%s: throughput ratio %v, want %v", s.Name, s.Ratio.ProduceThroughput, want)
		}
		if p.ProxyResidence == nil {
			t.Errorf("%s: no median proxy residence", s.Name)
		}
		if len(s.Ratio.PairThroughput) != 1 || s.Ratio.Latency == nil || s.Ratio.AddedLatency == nil || s.Ratio.ConsumeThroughput == nil {
			t.Errorf("%s: ratios incomplete: %+v", s.Name, s.Ratio)
		}
	}

	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, svg, "pair 1", "p99.9", "mode id")

	var table strings.Builder
	writeTable(&table, &rep)
	for _, want := range []string{"== unpinned, mode off", "== unpinned, mode id", "proxy/direct: produce throughput", "proxy residence p99 request", "summary"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// checkSVG parses svg as XML, checks its root is <svg>, and that its text
// holds each of want.
func checkSVG(t *testing.T, svg []byte, want ...string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var text strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("chart.svg root element %q, want svg", root)
	}
	for _, w := range want {
		if !strings.Contains(text.String(), w) {
			t.Errorf("chart.svg text lacks %q", w)
		}
	}
}

func TestEventPool(t *testing.T) {
	text, err := eventSchema()
	if err != nil {
		t.Fatal(err)
	}
	schema := avro.MustParse(text)
	for _, size := range []int{minRecordSize, 300, 1024, 10 << 10} {
		pool, err := eventPool(64, size, 42, 1)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		seen := map[string]bool{}
		for i, v := range pool {
			if len(v) != size {
				t.Fatalf("size %d: value %d is %d bytes", size, i, len(v))
			}
			if v[0] != 0 || binary.BigEndian.Uint32(v[1:5]) != 42 {
				t.Fatalf("size %d: value %d header % x, want magic 0 and schema ID 42", size, i, v[:5])
			}
			var ev examples.MemoryCreated
			if err := avro.Unmarshal(schema, v[5:], &ev); err != nil {
				t.Fatalf("size %d: value %d does not decode: %v", size, i, err)
			}
			if ev.EventType != "memory.created" || ev.EventID == "" {
				t.Errorf("size %d: value %d decoded to %+v", size, i, ev)
			}
			seen[string(v)] = true
		}
		if len(seen) != len(pool) {
			t.Errorf("size %d: %d distinct values of %d", size, len(seen), len(pool))
		}
	}
	if _, err := eventPool(1, 40, 1, 1); err == nil {
		t.Error("a 40-byte record: no error, want one (too small for the event)")
	}
}

func TestValidate(t *testing.T) {
	base := func() Config {
		return Config{RecordSize: 1024, Records: 10, Partitions: 8, Producers: 1, Compression: "lz4", Acks: "all",
			Linger: time.Millisecond, BatchBytes: 128 << 10, Modes: []string{modeID}, Rounds: 1, Rate: "max",
			Brokers: 1, Timeout: time.Minute, ProxyBin: "go"}
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // in the error; "" for none
	}{
		{"ok", func(*Config) {}, ""},
		{"small record", func(c *Config) { c.RecordSize = 16 }, "--record-size"},
		{"record over batch", func(c *Config) { c.BatchBytes = 1024 }, "--batch-bytes"},
		{"no count", func(c *Config) { c.Records = 0 }, "--records or --duration"},
		{"codec", func(c *Config) { c.Compression = "brotli" }, "--compression"},
		{"acks", func(c *Config) { c.Acks = "2" }, "--acks"},
		{"mode", func(c *Config) { c.Modes = []string{"strict"} }, "--mode"},
		{"mode twice", func(c *Config) { c.Modes = []string{"id", "off", "id"} }, "twice"},
		{"rate", func(c *Config) { c.Rate = "fast" }, "--rate"},
		{"rate percent", func(c *Config) { c.Rate = "150%" }, "--rate"},
		{"registry without bootstrap", func(c *Config) { c.Registry = "http://r:8081" }, "--registry goes with --bootstrap"},
		{"bootstrap", func(c *Config) { c.Bootstrap = []string{"kafka"} }, "HOST:PORT"},
		{"registry URL", func(c *Config) { c.Bootstrap, c.Registry = []string{"k:9092"}, "r:8081" }, "--registry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
	c := base()
	c.Rate = "half"
	if err := c.Validate(); err != nil || c.rateFrac != 0.5 || c.rateAbs != 0 {
		t.Errorf("--rate half: %v, fraction %v, absolute %v", err, c.rateFrac, c.rateAbs)
	}
	c.Rate = "25000"
	if err := c.Validate(); err != nil || c.rateAbs != 25000 || c.rateFrac != 0 {
		t.Errorf("--rate 25000: %v, fraction %v, absolute %v", err, c.rateFrac, c.rateAbs)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int{"1024": 1024, "128KiB": 128 << 10, "1MiB": 1 << 20, "64k": 64 << 10, "512B": 512} {
		var b byteSize
		if err := b.Set(in); err != nil || int(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	var b byteSize
	if err := b.Set("lots"); err == nil {
		t.Error(`Set("lots"): no error`)
	}
	b = 128 << 10
	if got := b.String(); got != "128KiB" {
		t.Errorf("String() = %q, want 128KiB", got)
	}
}

func TestPercentilesAndMedian(t *testing.T) {
	d := make([]time.Duration, 1000)
	for i := range d {
		d[len(d)-1-i] = time.Duration(i+1) * time.Millisecond
	}
	got := percentiles(d)
	want := &Latency{P50: 500, P99: 990, P999: 999, Max: 1000}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("percentiles = %+v, want %+v", got, want)
	}
	if percentiles(nil) != nil {
		t.Error("percentiles(nil) is not nil")
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median of 3 = %v, want 2", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median of 4 = %v, want 2.5", m)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.7: 1, 1.2: 2, 2.2: 2.5, 3: 5, 7: 10, 130: 200, 240: 250} {
		if got := niceCeil(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

// The residence figures come from the proxy's own exposition: bucket
// deltas between two scrapes, percentiles interpolated within a bucket.
func TestResidence(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	ctx := context.Background()
	m.ProduceRequestTime.Observe(0.5) // before the phase: not counted
	start, err := scrapeResidence(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// 100 request legs: 98 of 120 µs (the 0.0001-0.00015 bucket), two of
	// 2 s (+Inf); 10 response legs of 40 µs (the 0.00003-0.00005 bucket).
	for range 98 {
		m.ProduceRequestTime.Observe(0.00012)
	}
	m.ProduceRequestTime.Observe(2)
	m.ProduceRequestTime.Observe(2)
	for range 10 {
		m.ProduceResponseTime.Observe(0.00004)
	}
	end, err := scrapeResidence(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got := residence(start, end)
	want := &Residence{Requests: 100, Responses: 10,
		RequestP50: 0.1 + 0.05*50/98, RequestP99: 1000, // the rank of p99 (99) falls in +Inf: the highest bound, 1 s
		ResponseP50: 0.03 + 0.02*5/10, ResponseP99: 0.03 + 0.02*9.9/10}
	const eps = 1e-9
	if got == nil || got.Requests != want.Requests || got.Responses != want.Responses ||
		math.Abs(got.RequestP50-want.RequestP50) > eps || math.Abs(got.RequestP99-want.RequestP99) > eps ||
		math.Abs(got.ResponseP50-want.ResponseP50) > eps || math.Abs(got.ResponseP99-want.ResponseP99) > eps {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if r := residence(histSnap{}, histSnap{}); r != nil {
		t.Errorf("a proxy without the series: got %+v, want nil", r)
	}
}

// The upstream answers each "gc" line with one collection and one JSON
// line, ignores other lines, and ends when its stdin does.
func TestUpstreamGC(t *testing.T) {
	var out bytes.Buffer
	gone := make(chan struct{})
	serveStdin(strings.NewReader("gc\nnoise\ngc\n"), &out, gone)
	<-gone
	dec := json.NewDecoder(&out)
	for i := range 2 {
		var gc upstreamGC
		if err := dec.Decode(&gc); err != nil || gc.HeapBytes == 0 {
			t.Fatalf("answer %d: %+v, %v", i, gc, err)
		}
	}
	if dec.More() {
		t.Errorf("more than one answer per gc line: %q", out.String())
	}
	if l := upstreamMemoryLimit(); l < minUpstreamMemory || l > maxUpstreamMemory {
		t.Errorf("memory limit %d outside [%d, %d]", l, minUpstreamMemory, maxUpstreamMemory)
	}
}
