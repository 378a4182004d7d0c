package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is results.json: the configuration, the machine, and every
// session's rounds, medians and ratios.
type Report struct {
	Format   int       `json:"format"` // 1
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Command  []string  `json:"command"`
	Config   Config    `json:"config"`
	Machine  Machine   `json:"machine"`
	Proxy    ProxyInfo `json:"proxy"`
	Sessions []Session `json:"sessions"`
}

// ProxyInfo identifies the proxy binary measured.
type ProxyInfo struct {
	Binary    string `json:"binary"`
	Revision  string `json:"vcs_revision,omitempty"`
	Modified  bool   `json:"vcs_modified,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
}

// Session is one upstream and one proxy process in one mode, pinned or
// not, with its rounds.
type Session struct {
	Name      string    `json:"name"`
	Mode      string    `json:"mode"`
	Pinned    bool      `json:"pinned"`
	CPUs      Placement `json:"cpus"`
	Upstream  string    `json:"upstream"`
	ProxyArgs []string  `json:"proxy_args"`
	// Rate is the producer rate of the measured rounds in records/s, 0
	// unthrottled; ProbedMax the unthrottled rate it was derived from.
	Rate      float64 `json:"rate_records_per_sec"`
	ProbedMax float64 `json:"probed_max_records_per_sec,omitempty"`
	Rounds    []Round `json:"rounds"`
	Median    Medians `json:"median"`
	Ratio     Ratios  `json:"ratio"`
	// Error is why the session stopped early; its rounds are those done.
	Error string `json:"error,omitempty"`
}

// Round kinds.
const (
	kindWarmup  = "warmup"
	kindProbe   = "probe"
	kindMeasure = "measure"
)

// Targets: the upstream itself, or the proxy in front of it.
const (
	targetDirect = "direct"
	targetProxy  = "proxy"
)

// Round is one produce phase (and, with --consume, one consume phase) on
// a fresh topic, direct or through the proxy.
type Round struct {
	Index   int    `json:"index"`
	Kind    string `json:"kind"`
	Target  string `json:"target"`
	Topic   string `json:"topic"`
	Primed  int64  `json:"primed_records"`
	Produce Phase  `json:"produce"`
	Consume *Phase `json:"consume,omitempty"`
}

// Phase is the figures of one produce or consume phase. Proxy figures
// are present only for proxied rounds; the upstream's only when its
// process is known.
type Phase struct {
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	Latency       *Latency `json:"latency_ms,omitempty"`
	Errors        int64    `json:"errors,omitempty"`

	ProxyCPUSeconds      *float64 `json:"proxy_cpu_seconds,omitempty"`
	ProxyCPUSecondsPerGB *float64 `json:"proxy_cpu_seconds_per_gb,omitempty"`
	ProxyPeakRSSBytes    *int64   `json:"proxy_peak_rss_bytes,omitempty"`
	ProxyRSSMethod       string   `json:"proxy_rss_method,omitempty"`
	// ProxyResidence is the time the phase's Produce requests spent
	// inside the proxy, from its own histogram (proxied produce phases).
	ProxyResidence     *Residence `json:"proxy_residence,omitempty"`
	LoadCPUSeconds     float64    `json:"load_cpu_seconds"`
	UpstreamCPUSeconds *float64   `json:"upstream_cpu_seconds,omitempty"`
}

// Medians are the per-field medians of the measured rounds of each target.
type Medians struct {
	Direct Stats `json:"direct"`
	Proxy  Stats `json:"proxy"`
}

// Stats is a median produce phase and, with --consume, a median consume
// phase.
type Stats struct {
	Rounds  int    `json:"rounds"`
	Produce Phase  `json:"produce"`
	Consume *Phase `json:"consume,omitempty"`
}

// Ratios compare the medians, proxy over direct.
type Ratios struct {
	ProduceThroughput float64 `json:"produce_throughput"`
	// PairThroughput is proxy/direct of each measured pair, in order.
	PairThroughput []float64 `json:"pair_produce_throughput"`
	// Latency is proxy/direct of each percentile; AddedLatency is proxy
	// minus direct, in milliseconds.
	Latency           *Latency `json:"latency,omitempty"`
	AddedLatency      *Latency `json:"added_latency_ms,omitempty"`
	ConsumeThroughput *float64 `json:"consume_throughput,omitempty"`
}

// MB and GB are decimal: 10^6 and 10^9 bytes of record values.
const (
	mb = 1e6
	gb = 1e9
)

// fill derives the rates of a phase from its counts.
func (p *Phase) fill() {
	if p.Seconds > 0 {
		p.RecordsPerSec = float64(p.Records) / p.Seconds
		p.MBPerSec = float64(p.Bytes) / mb / p.Seconds
	}
	if p.ProxyCPUSeconds != nil && p.Bytes > 0 {
		v := *p.ProxyCPUSeconds / (float64(p.Bytes) / gb)
		p.ProxyCPUSecondsPerGB = &v
	}
}

// summarize computes the medians and ratios of s's measured rounds.
func (s *Session) summarize() {
	var direct, proxied []Round
	for _, r := range s.Rounds {
		if r.Kind != kindMeasure {
			continue
		}
		if r.Target == targetDirect {
			direct = append(direct, r)
		} else {
			proxied = append(proxied, r)
		}
	}
	s.Median = Medians{Direct: medianStats(direct), Proxy: medianStats(proxied)}
	d, p := s.Median.Direct, s.Median.Proxy
	s.Ratio = Ratios{ProduceThroughput: ratio(p.Produce.RecordsPerSec, d.Produce.RecordsPerSec)}
	for i := range min(len(direct), len(proxied)) {
		s.Ratio.PairThroughput = append(s.Ratio.PairThroughput, ratio(proxied[i].Produce.RecordsPerSec, direct[i].Produce.RecordsPerSec))
	}
	if dl, pl := d.Produce.Latency, p.Produce.Latency; dl != nil && pl != nil {
		s.Ratio.Latency = &Latency{P50: ratio(pl.P50, dl.P50), P99: ratio(pl.P99, dl.P99), P999: ratio(pl.P999, dl.P999), Max: ratio(pl.Max, dl.Max)}
		s.Ratio.AddedLatency = &Latency{P50: pl.P50 - dl.P50, P99: pl.P99 - dl.P99, P999: pl.P999 - dl.P999, Max: pl.Max - dl.Max}
	}
	if d.Consume != nil && p.Consume != nil {
		v := ratio(p.Consume.RecordsPerSec, d.Consume.RecordsPerSec)
		s.Ratio.ConsumeThroughput = &v
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// medianStats takes the median of every field over rounds.
func medianStats(rounds []Round) Stats {
	st := Stats{Rounds: len(rounds)}
	if len(rounds) == 0 {
		return st
	}
	prod := make([]Phase, len(rounds))
	var cons []Phase
	for i, r := range rounds {
		prod[i] = r.Produce
		if r.Consume != nil {
			cons = append(cons, *r.Consume)
		}
	}
	st.Produce = medianPhase(prod)
	if len(cons) > 0 {
		c := medianPhase(cons)
		st.Consume = &c
	}
	return st
}

func medianPhase(ps []Phase) Phase {
	f := func(get func(Phase) float64) float64 {
		v := make([]float64, len(ps))
		for i, p := range ps {
			v[i] = get(p)
		}
		return median(v)
	}
	opt := func(get func(Phase) *float64) *float64 {
		var v []float64
		for _, p := range ps {
			if x := get(p); x != nil {
				v = append(v, *x)
			}
		}
		if len(v) == 0 {
			return nil
		}
		m := median(v)
		return &m
	}
	m := Phase{
		Records:        int64(f(func(p Phase) float64 { return float64(p.Records) })),
		Bytes:          int64(f(func(p Phase) float64 { return float64(p.Bytes) })),
		Seconds:        f(func(p Phase) float64 { return p.Seconds }),
		RecordsPerSec:  f(func(p Phase) float64 { return p.RecordsPerSec }),
		MBPerSec:       f(func(p Phase) float64 { return p.MBPerSec }),
		Errors:         int64(f(func(p Phase) float64 { return float64(p.Errors) })),
		LoadCPUSeconds: f(func(p Phase) float64 { return p.LoadCPUSeconds }),

		ProxyCPUSeconds:      opt(func(p Phase) *float64 { return p.ProxyCPUSeconds }),
		ProxyCPUSecondsPerGB: opt(func(p Phase) *float64 { return p.ProxyCPUSecondsPerGB }),
		UpstreamCPUSeconds:   opt(func(p Phase) *float64 { return p.UpstreamCPUSeconds }),
		ProxyRSSMethod:       ps[0].ProxyRSSMethod,
	}
	if v := opt(func(p Phase) *float64 {
		if p.ProxyPeakRSSBytes == nil {
			return nil
		}
		x := float64(*p.ProxyPeakRSSBytes)
		return &x
	}); v != nil {
		n := int64(*v)
		m.ProxyPeakRSSBytes = &n
	}
	m.ProxyResidence = medianResidence(ps)
	if ps[0].Latency != nil {
		l := func(get func(*Latency) float64) float64 {
			v := make([]float64, 0, len(ps))
			for _, p := range ps {
				if p.Latency != nil {
					v = append(v, get(p.Latency))
				}
			}
			return median(v)
		}
		m.Latency = &Latency{
			P50:  l(func(x *Latency) float64 { return x.P50 }),
			P99:  l(func(x *Latency) float64 { return x.P99 }),
			P999: l(func(x *Latency) float64 { return x.P999 }),
			Max:  l(func(x *Latency) float64 { return x.Max }),
		}
	}
	return m
}

// medianResidence is the per-field median of the phases' residences, nil
// when none has one.
func medianResidence(ps []Phase) *Residence {
	var rs []*Residence
	for _, p := range ps {
		if p.ProxyResidence != nil {
			rs = append(rs, p.ProxyResidence)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	f := func(get func(*Residence) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		return median(v)
	}
	return &Residence{
		Requests:    int64(f(func(r *Residence) float64 { return float64(r.Requests) })),
		Responses:   int64(f(func(r *Residence) float64 { return float64(r.Responses) })),
		RequestP50:  f(func(r *Residence) float64 { return r.RequestP50 }),
		RequestP99:  f(func(r *Residence) float64 { return r.RequestP99 }),
		ResponseP50: f(func(r *Residence) float64 { return r.ResponseP50 }),
		ResponseP99: f(func(r *Residence) float64 { return r.ResponseP99 }),
	}
}

// median of v (the mean of the middle two for an even count); v is sorted.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// writeTable prints the report for a reader.
func writeTable(w io.Writer, r *Report) {
	c := r.Config
	size := fmt.Sprintf("%d-byte records", c.RecordSize)
	count := fmt.Sprintf("%d records per round", c.Records)
	if c.Duration > 0 {
		count = c.Duration.String() + " per round"
	}
	fmt.Fprintf(w, "schemaproxy bench: %s, %s, %d partitions, %d producer(s), %s, acks=%s, linger %s, batches up to %s\n",
		size, count, c.Partitions, c.Producers, c.Compression, c.Acks, c.Linger, c.BatchBytes.String())
	fmt.Fprintf(w, "machine: %d CPUs (%s), %s, kernel %s, %s; load average at start %s, at end %s\n",
		r.Machine.CPUsOnline, r.Machine.CPUModel, r.Machine.OSArch, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.LoadAvgStart, r.Machine.LoadAvgEnd)
	rev := r.Proxy.Revision
	if r.Proxy.Modified {
		rev += " (modified)"
	}
	fmt.Fprintf(w, "proxy: %s %s\n", r.Proxy.Binary, rev)
	for i := range r.Sessions {
		s := &r.Sessions[i]
		fmt.Fprintf(w, "\n== %s: upstream %s ==\n", s.Name, s.Upstream)
		switch {
		case s.ProbedMax > 0:
			fmt.Fprintf(w, "measured rounds at %.0f records/s (%s of the probed maximum, %.0f records/s)\n", s.Rate, c.Rate, s.ProbedMax)
		case s.Rate > 0:
			fmt.Fprintf(w, "measured rounds at %.0f records/s\n", s.Rate)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := "round\tkind\ttarget\trecords\trec/s\tMB/s\tp50 ms\tp99 ms\tp99.9 ms\tproxy CPU s\tproxy CPU s/GB\tproxy peak RSS MiB\tin proxy req p50/p99 ms\tin proxy resp p50/p99 ms\tload CPU s\tupstream CPU s\t"
		if c.Consume {
			head += "consume rec/s\tconsume MB/s\tproxy CPU s/GB (consume)\t"
		}
		fmt.Fprintln(tw, head)
		for _, rd := range s.Rounds {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t", rd.Index, rd.Kind, rd.Target, phaseCells(&rd.Produce))
			if c.Consume {
				fmt.Fprint(tw, consumeCells(rd.Consume))
			}
			fmt.Fprintln(tw)
		}
		for _, m := range []struct {
			target string
			st     Stats
		}{{targetDirect, s.Median.Direct}, {targetProxy, s.Median.Proxy}} {
			fmt.Fprintf(tw, "median\t%d rounds\t%s\t%s\t", m.st.Rounds, m.target, phaseCells(&m.st.Produce))
			if c.Consume {
				fmt.Fprint(tw, consumeCells(m.st.Consume))
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
		if s.Error != "" {
			fmt.Fprintf(w, "STOPPED EARLY: %s\n", firstLine(s.Error))
		}
		fmt.Fprintf(w, "proxy/direct: produce throughput %.3f (pairs: %s)", s.Ratio.ProduceThroughput, joinFloats(s.Ratio.PairThroughput, "%.3f"))
		if a := s.Ratio.AddedLatency; a != nil {
			fmt.Fprintf(w, "; added latency p50 %+.2f ms, p99 %+.2f ms, p99.9 %+.2f ms", a.P50, a.P99, a.P999)
		}
		if s.Ratio.ConsumeThroughput != nil {
			fmt.Fprintf(w, "; consume throughput %.3f", *s.Ratio.ConsumeThroughput)
		}
		if res := s.Median.Proxy.Produce.ProxyResidence; res != nil {
			fmt.Fprintf(w, "; proxy residence p99 request %.3f ms, response %.3f ms", res.RequestP99, res.ResponseP99)
		}
		fmt.Fprintln(w)
	}
	if len(r.Sessions) > 1 {
		fmt.Fprintln(w, "\nsummary (medians of measured rounds):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "session\tproduce proxy/direct\tadded p99 ms\tin proxy p99 req/resp ms\tproxy CPU s/GB\tproxy peak RSS MiB\tconsume proxy/direct\t")
		for _, s := range r.Sessions {
			added, cons := "-", "-"
			if s.Ratio.AddedLatency != nil {
				added = fmt.Sprintf("%+.2f", s.Ratio.AddedLatency.P99)
			}
			if s.Ratio.ConsumeThroughput != nil {
				cons = fmt.Sprintf("%.3f", *s.Ratio.ConsumeThroughput)
			}
			p := s.Median.Proxy.Produce
			res := "-"
			if p.ProxyResidence != nil {
				res = fmt.Sprintf("%.3f/%.3f", p.ProxyResidence.RequestP99, p.ProxyResidence.ResponseP99)
			}
			fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.Ratio.ProduceThroughput, added, res, optF(p.ProxyCPUSecondsPerGB, "%.3f"), optRSS(p.ProxyPeakRSSBytes), cons)
		}
		tw.Flush()
	}
}

func phaseCells(p *Phase) string {
	lat := "-\t-\t-"
	if p.Latency != nil {
		lat = fmt.Sprintf("%.2f\t%.2f\t%.2f", p.Latency.P50, p.Latency.P99, p.Latency.P999)
	}
	res := "-\t-"
	if r := p.ProxyResidence; r != nil {
		res = fmt.Sprintf("%.3f/%.3f\t%.3f/%.3f", r.RequestP50, r.RequestP99, r.ResponseP50, r.ResponseP99)
	}
	return fmt.Sprintf("%d\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s",
		p.Records, p.RecordsPerSec, p.MBPerSec, lat,
		optF(p.ProxyCPUSeconds, "%.2f"), optF(p.ProxyCPUSecondsPerGB, "%.3f"), optRSS(p.ProxyPeakRSSBytes), res,
		p.LoadCPUSeconds, optF(p.UpstreamCPUSeconds, "%.2f"))
}

func consumeCells(p *Phase) string {
	if p == nil {
		return "-\t-\t-\t"
	}
	return fmt.Sprintf("%.0f\t%.1f\t%s\t", p.RecordsPerSec, p.MBPerSec, optF(p.ProxyCPUSecondsPerGB, "%.3f"))
}

func optF(v *float64, format string) string {
	if v == nil || math.IsNaN(*v) {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func optRSS(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(*v)/(1<<20))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func joinFloats(v []float64, format string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(s, " ")
}
