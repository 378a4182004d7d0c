package metrics

import (
	"flag"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/series.golden")

// TestSeriesGolden pins every schemaproxy_ series: name, type, help and
// label names. A change here is a change to dashboards and alerts.
func TestSeriesGolden(t *testing.T) {
	m := New()
	touchAll(m)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "schemaproxy_") {
			continue
		}
		labels := map[string]bool{}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = true
			}
		}
		var names []string
		for l := range labels {
			names = append(names, l)
		}
		sort.Strings(names)
		lines = append(lines, f.GetName()+" "+strings.ToLower(f.GetType().String())+" {"+strings.Join(names, ",")+"} "+f.GetHelp())
	}
	got := strings.Join(lines, "\n") + "\n"
	const path = "testdata/series.golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("series changed; run go test ./metrics -update if intended\ngot:\n%s\nwant:\n%s", got, want)
	}
}

func TestTopicLabelCapped(t *testing.T) {
	t.Parallel()
	m := New()
	e := m.Enforce
	for i := range DefaultTopicCap {
		if got := e.Topic(strings.Repeat("t", i+1)); got != strings.Repeat("t", i+1) {
			t.Fatalf("topic %d: got %q, want its own name", i, got)
		}
	}
	if got := e.Topic("one-too-many"); got != OtherTopic {
		t.Errorf("topic past the cap: got %q, want %q", got, OtherTopic)
	}
	if got := e.Topic("t"); got != "t" {
		t.Errorf("a topic seen before the cap: got %q, want t", got)
	}
}

func TestRequestCountsByName(t *testing.T) {
	t.Parallel()
	m := New()
	m.Request(0)
	m.Request(0)
	m.Request(9999)
	if got := testutil.ToFloat64(m.requests[0]); got != 2 {
		t.Errorf("Produce requests: got %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests[maxKey]); got != 1 {
		t.Errorf("Unknown requests: got %v, want 1", got)
	}
}
