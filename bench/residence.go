package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// residenceSeries is the proxy's histogram of the time a Produce spends
// inside it, by leg (request, response).
const residenceSeries = "schemaproxy_produce_proxy_seconds"

// Residence is the time the produce phase's requests spent inside the
// proxy, from the difference of its produce_proxy_seconds histogram
// between the phase's start and end: the request leg (frame read from the
// client to written upstream) and the response leg (size prefix read from
// upstream to written to the client). Percentiles are in milliseconds,
// interpolated linearly within the bucket the rank falls in, as
// Prometheus's histogram_quantile does; a rank in the +Inf bucket reads as
// the highest finite bound.
type Residence struct {
	Requests    int64   `json:"requests"`
	Responses   int64   `json:"responses"`
	RequestP50  float64 `json:"request_p50_ms"`
	RequestP99  float64 `json:"request_p99_ms"`
	ResponseP50 float64 `json:"response_p50_ms"`
	ResponseP99 float64 `json:"response_p99_ms"`
}

// bucket is one cumulative histogram bucket: the count of observations at
// most le seconds.
type bucket struct {
	le    float64
	count float64
}

// histSnap is one scrape of residenceSeries: each leg's buckets, sorted
// by bound, +Inf last.
type histSnap map[string][]bucket

// scrapeResidence reads the proxy's residenceSeries from its /metrics URL.
// A proxy without the series gives an empty snapshot.
func scrapeResidence(ctx context.Context, url string) (histSnap, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the proxy's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping the proxy's metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scraping the proxy's metrics: %w", err)
	}
	snap := histSnap{}
	if f := families[residenceSeries]; f != nil {
		for _, m := range f.GetMetric() {
			var leg string
			for _, l := range m.GetLabel() {
				if l.GetName() == "leg" {
					leg = l.GetValue()
				}
			}
			h := m.GetHistogram()
			if leg == "" || h == nil {
				return nil, fmt.Errorf("scraping the proxy's metrics: %s without a leg or not a histogram", residenceSeries)
			}
			for _, bk := range h.GetBucket() { // the text format lists +Inf too
				snap[leg] = append(snap[leg], bucket{bk.GetUpperBound(), float64(bk.GetCumulativeCount())})
			}
		}
	}
	for _, b := range snap {
		slices.SortFunc(b, func(x, y bucket) int { return cmp.Compare(x.le, y.le) })
	}
	return snap, nil
}

// residence computes the phase's Residence from the scrapes at its start
// and end; nil when the proxy has no such series.
func residence(start, end histSnap) *Residence {
	req, resp := end.since(start, "request"), end.since(start, "response")
	if req == nil && resp == nil {
		return nil
	}
	return &Residence{
		Requests:    total(req),
		Responses:   total(resp),
		RequestP50:  quantile(req, 0.50) * 1e3,
		RequestP99:  quantile(req, 0.99) * 1e3,
		ResponseP50: quantile(resp, 0.50) * 1e3,
		ResponseP99: quantile(resp, 0.99) * 1e3,
	}
}

// since is leg's buckets of s minus those of start (a leg start lacks
// counts from zero).
func (s histSnap) since(start histSnap, leg string) []bucket {
	b := s[leg]
	if len(b) == 0 {
		return nil
	}
	out := slices.Clone(b)
	if prev := start[leg]; len(prev) == len(b) {
		for i := range out {
			out[i].count -= prev[i].count
		}
	}
	return out
}

func total(b []bucket) int64 {
	if len(b) == 0 {
		return 0
	}
	return int64(b[len(b)-1].count)
}

// quantile of cumulative buckets b, sorted with +Inf last, in seconds:
// linear within the bucket holding rank q·total, its lower bound the
// previous bucket's (0 for the first); the highest finite bound when the
// rank falls in +Inf. 0 without observations.
func quantile(b []bucket, q float64) float64 {
	n := len(b)
	if n == 0 || b[n-1].count <= 0 {
		return 0
	}
	rank := q * b[n-1].count
	i, _ := slices.BinarySearchFunc(b, rank, func(x bucket, r float64) int { return cmp.Compare(x.count, r) })
	if i >= n {
		i = n - 1
	}
	if math.IsInf(b[i].le, 1) {
		if n < 2 {
			return 0
		}
		return b[n-2].le
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = b[i-1].le, b[i-1].count
	}
	if b[i].count == below {
		return b[i].le
	}
	return lower + (b[i].le-lower)*(rank-below)/(b[i].count-below)
}
