package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Chart geometry and colours.
const (
	svgWidth     = 1100.0
	svgHeader    = 80.0
	svgSession   = 320.0
	colourDirect = "#4e79a7"
	colourProxy  = "#f28e2b"
)

// barGroup is one group of a grouped bar chart: a direct and a proxied bar.
type barGroup struct {
	label         string
	direct, proxy float64
}

// writeSVG draws the report: for each session, produce MB/s of each
// probe and measured pair, the median produce latencies, and with
// --consume the consume MB/s of each pair; direct and proxied bars side
// by side. Warm-up rounds are left out.
func writeSVG(w io.Writer, r *Report) error {
	var b strings.Builder
	height := svgHeader + svgSession*float64(len(r.Sessions)) + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	c := r.Config
	count := fmt.Sprintf("%d records/round", c.Records)
	if c.Duration > 0 {
		count = c.Duration.String() + "/round"
	}
	text(&b, 16, 24, "start", "font-size=\"16\" font-weight=\"bold\"",
		fmt.Sprintf("schemaproxy bench: direct vs through the proxy (%s)", r.Started.Format("2006-01-02 15:04 UTC")))
	text(&b, 16, 44, "start", "", fmt.Sprintf("%d-byte Avro records, %s, %d partitions, %d producer(s), %s, acks=%s, linger %s; %d CPUs (%s), load avg %s",
		c.RecordSize, count, c.Partitions, c.Producers, c.Compression, c.Acks, c.Linger, r.Machine.CPUsOnline, r.Machine.CPUModel, r.Machine.LoadAvgStart))
	legend(&b, 16, 66)

	for i, s := range r.Sessions {
		y := svgHeader + svgSession*float64(i)
		title := fmt.Sprintf("%s — produce proxy/direct %.3f", s.Name, s.Ratio.ProduceThroughput)
		if a := s.Ratio.AddedLatency; a != nil {
			title += fmt.Sprintf(", added p99 %+.2f ms", a.P99)
		}
		if s.Ratio.ConsumeThroughput != nil {
			title += fmt.Sprintf(", consume proxy/direct %.3f", *s.Ratio.ConsumeThroughput)
		}
		if s.Rate > 0 {
			title += fmt.Sprintf(", measured at %.0f rec/s", s.Rate)
		}
		text(&b, 16, y+20, "start", "font-size=\"14\" font-weight=\"bold\"", title)

		prod, cons := pairGroups(s)
		panels := 2
		if len(cons) > 0 {
			panels = 3
		}
		pw := (svgWidth - 20) / float64(panels)
		barPanel(&b, 10, y+30, pw-10, svgSession-40, "produce MB/s per round pair", prod)
		barPanel(&b, 10+pw, y+30, pw-10, svgSession-40, "produce latency ms (median of measured rounds)", latencyGroups(s))
		if len(cons) > 0 {
			barPanel(&b, 10+2*pw, y+30, pw-10, svgSession-40, "consume MB/s per round pair", cons)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// pairGroups pairs each probe and measured direct round with the proxied
// round after it.
func pairGroups(s Session) (prod, cons []barGroup) {
	n := 0
	for i := 0; i+1 < len(s.Rounds); i++ {
		d, p := s.Rounds[i], s.Rounds[i+1]
		if d.Kind == kindWarmup || d.Kind != p.Kind || d.Target != targetDirect || p.Target != targetProxy {
			continue
		}
		label := "probe"
		if d.Kind == kindMeasure {
			n++
			label = "pair " + strconv.Itoa(n)
		}
		prod = append(prod, barGroup{label, d.Produce.MBPerSec, p.Produce.MBPerSec})
		if d.Consume != nil && p.Consume != nil {
			cons = append(cons, barGroup{label, d.Consume.MBPerSec, p.Consume.MBPerSec})
		}
		i++
	}
	return prod, cons
}

func latencyGroups(s Session) []barGroup {
	d, p := s.Median.Direct.Produce.Latency, s.Median.Proxy.Produce.Latency
	if d == nil || p == nil {
		return nil
	}
	return []barGroup{{"p50", d.P50, p.P50}, {"p99", d.P99, p.P99}, {"p99.9", d.P999, p.P999}}
}

// barPanel draws a titled grouped bar chart in the box at x, y of size
// w by h, with a zero-based linear axis and each bar's value above it.
func barPanel(b *strings.Builder, x, y, w, h float64, title string, groups []barGroup) {
	text(b, x+w/2, y+14, "middle", "font-weight=\"bold\"", title)
	const left, top, bottom = 48.0, 28.0, 24.0
	px, py, pw, ph := x+left, y+top, w-left-8, h-top-bottom
	if len(groups) == 0 {
		text(b, px+pw/2, py+ph/2, "middle", "fill=\"#888\"", "no data")
		return
	}
	top0 := 0.0
	for _, g := range groups {
		top0 = max(top0, g.direct, g.proxy)
	}
	ymax := niceCeil(top0 * 1.12)
	const ticks = 5
	for i := 0; i <= ticks; i++ {
		v := ymax * float64(i) / ticks
		yy := py + ph - ph*float64(i)/ticks
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", px, yy, px+pw, yy)
		text(b, px-6, yy+4, "end", "fill=\"#555\" font-size=\"11\"", axisLabel(v))
	}
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", px, py+ph, px+pw, py+ph)
	gw := pw / float64(len(groups))
	bw := min(gw*0.36, 60)
	for i, g := range groups {
		cx := px + gw*(float64(i)+0.5)
		for j, v := range []float64{g.direct, g.proxy} {
			colour, bx := colourDirect, cx-bw-1
			if j == 1 {
				colour, bx = colourProxy, cx+1
			}
			bh := 0.0
			if ymax > 0 {
				bh = ph * v / ymax
			}
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				bx, py+ph-bh, bw, bh, colour, esc(g.label), []string{targetDirect, targetProxy}[j], valueLabel(v))
			text(b, bx+bw/2, py+ph-bh-4, "middle", "font-size=\"10\"", valueLabel(v))
		}
		text(b, cx, py+ph+16, "middle", "", g.label)
	}
}

func legend(b *strings.Builder, x, y float64) {
	for _, l := range []struct{ name, colour string }{{"direct", colourDirect}, {"through the proxy", colourProxy}} {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", x, y-10, l.colour)
		text(b, x+18, y, "start", "", l.name)
		x += 30 + 7*float64(len(l.name))
	}
}

func text(b *strings.Builder, x, y float64, anchor, attrs, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, attrs, esc(s))
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func esc(s string) string { return xmlEscaper.Replace(s) }

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func valueLabel(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
