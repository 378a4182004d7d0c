package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/schemaproxy/schemaproxy/bench/internal/proc"
)

// report is the whole comparison, as written with --out.
type report struct {
	Started  time.Time       `json:"started"`
	Command  string          `json:"command"`
	Machine  machine         `json:"machine"`
	Pinned   bool            `json:"pinned"`
	Pinning  string          `json:"pinning"`
	Settings settings        `json:"settings"`
	Rounds   []roundResult   `json:"rounds"`
	Medians  []engineSummary `json:"medians"`
}

type machine struct {
	CPUs         int    `json:"cpus"`
	CPUModel     string `json:"cpu_model"`
	Kernel       string `json:"kernel"`
	GoVersion    string `json:"go_version"`
	GnetVersion  string `json:"gnet_version"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

type settings struct {
	Engines        []string `json:"engines"`
	Rounds         int      `json:"rounds"`
	ProduceMiB     int      `json:"produce_mib"`
	BatchBytes     int      `json:"batch_bytes"`
	Conns          int      `json:"conns"`
	Depth          int      `json:"depth"`
	ProduceVersion int16    `json:"produce_version"`
	IdleConns      int      `json:"idle_conns"`
	IdleSettle     string   `json:"idle_settle"`
	GnetLoops      int      `json:"gnet_loops"`
	GnetReadBuffer int      `json:"gnet_read_buffer"`
	FDLimit        int      `json:"fd_limit"`
}

type roundResult struct {
	Round      int              `json:"round"`
	Engine     string           `json:"engine"`
	Throughput throughputResult `json:"throughput"`
	Idle       idleResult       `json:"idle"`
}

// throughputResult is one engine's Produce round. Bytes are whole request
// frames; a GB is 10^9 bytes.
type throughputResult struct {
	Requests       int64   `json:"requests"`
	FrameBytes     int     `json:"frame_bytes"`
	BytesSent      int64   `json:"bytes_sent"`
	BytesForwarded int64   `json:"bytes_forwarded"` // as counted by the sink
	Seconds        float64 `json:"seconds"`
	MBps           float64 `json:"mb_per_s"`
	CPUSeconds     float64 `json:"cpu_seconds"` // proxy utime+stime during the load
	CPUPerGB       float64 `json:"cpu_seconds_per_gb"`
	PeakRSS        int64   `json:"peak_rss_bytes"` // proxy VmHWM
	RSSAfter       int64   `json:"rss_after_bytes"`
	Threads        int     `json:"threads"`
}

// idleResult is one engine's idle-connection round.
type idleResult struct {
	Conns       int     `json:"conns"`
	RSSBefore   int64   `json:"rss_before_bytes"`
	RSSAfter    int64   `json:"rss_after_bytes"`
	RSSPerConn  float64 `json:"rss_per_conn_bytes"`
	FDsPerConn  float64 `json:"fds_per_conn"`
	ThreadsIdle int     `json:"threads"`
}

// engineSummary holds the medians of one engine's rounds.
type engineSummary struct {
	Engine     string  `json:"engine"`
	Rounds     int     `json:"rounds"`
	CPUPerGB   float64 `json:"cpu_seconds_per_gb"`
	MBps       float64 `json:"mb_per_s"`
	PeakRSS    float64 `json:"peak_rss_bytes"`
	RSSPerConn float64 `json:"rss_per_idle_conn_bytes"`
	FDsPerConn float64 `json:"fds_per_idle_conn"`
}

func summarise(engines []string, rounds []roundResult) []engineSummary {
	var out []engineSummary
	for _, e := range engines {
		var cpu, mbps, rss, perConn, fds []float64
		for _, r := range rounds {
			if r.Engine != e {
				continue
			}
			cpu = append(cpu, r.Throughput.CPUPerGB)
			mbps = append(mbps, r.Throughput.MBps)
			rss = append(rss, float64(r.Throughput.PeakRSS))
			perConn = append(perConn, r.Idle.RSSPerConn)
			fds = append(fds, r.Idle.FDsPerConn)
		}
		out = append(out, engineSummary{Engine: e, Rounds: len(cpu), CPUPerGB: median(cpu), MBps: median(mbps),
			PeakRSS: median(rss), RSSPerConn: median(perConn), FDsPerConn: median(fds)})
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(b int64) float64   { return float64(b) / (1 << 20) }
func kib(b float64) float64 { return b / 1024 }

// writeTable prints every round, then the medians.
func writeTable(w io.Writer, rep *report) {
	s := rep.Settings
	fmt.Fprintf(w, "Engine comparison: %d round(s); per engine and round %d MiB of Produce requests with %d-byte record batches (v%d, acks=1, %d conn(s) x %d in flight), then %d idle connections\n",
		s.Rounds, s.ProduceMiB, s.BatchBytes, s.ProduceVersion, s.Conns, s.Depth, s.IdleConns)
	fmt.Fprintf(w, "%s; %d CPU(s) %s; kernel %s; %s; gnet %s; load average %s at start, %s at end\n\n",
		rep.Pinning, rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.Kernel, rep.Machine.GoVersion,
		rep.Machine.GnetVersion, rep.Machine.LoadAvgStart, rep.Machine.LoadAvgEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tengine\tCPU-s\tGB\tCPU-s/GB\tMB/s\tpeak RSS MiB\tidle conns\tRSS/idle conn KiB\tfds/idle conn\t")
	for _, r := range rep.Rounds {
		t, i := r.Throughput, r.Idle
		fmt.Fprintf(tw, "%d\t%s\t%.2f\t%.2f\t%.3f\t%.0f\t%.1f\t%d\t%.1f\t%.2f\t\n", r.Round, r.Engine, t.CPUSeconds,
			float64(t.BytesForwarded)/1e9, t.CPUPerGB, t.MBps, mib(t.PeakRSS), i.Conns, kib(i.RSSPerConn), i.FDsPerConn)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nMedians:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "engine\tCPU-s/GB\tvs first\tMB/s\tpeak RSS MiB\tRSS/idle conn KiB\tfds/idle conn\t")
	var first float64
	for i, m := range rep.Medians {
		if i == 0 {
			first = m.CPUPerGB
		}
		rel := "-"
		if first > 0 {
			rel = fmt.Sprintf("%.2fx", m.CPUPerGB/first)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%.0f\t%.1f\t%.1f\t%.2f\t\n", m.Engine, m.CPUPerGB, rel, m.MBps,
			m.PeakRSS/(1<<20), kib(m.RSSPerConn), m.FDsPerConn)
	}
	tw.Flush()
}

// readMachine describes the machine the comparison runs on.
func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Kernel: proc.Kernel(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg(), GnetVersion: "unknown"}
	m.CPUModel, _ = proc.CPUInfo()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/panjf2000/gnet/v2" {
				m.GnetVersion = d.Version
			}
		}
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "unknown".
func loadAvg() string {
	if s := proc.LoadAvg(); s != "" {
		return s
	}
	return "unknown"
}
