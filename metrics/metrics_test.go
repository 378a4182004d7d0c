package metrics

import (
	"flag"
	"os"
	"sort"
	"strconv"
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
		e.NoteTopic(strings.Repeat("t", i+1))
		if got := e.Topic(strings.Repeat("t", i+1)); got != strings.Repeat("t", i+1) {
			t.Fatalf("topic %d: got %q, want its own name", i, got)
		}
	}
	e.NoteTopic("one-too-many")
	if got := e.Topic("one-too-many"); got != OtherTopic {
		t.Errorf("topic past the cap: got %q, want %q", got, OtherTopic)
	}
	if got := e.Topic("t"); got != "t" {
		t.Errorf("a topic seen before the cap: got %q, want t", got)
	}
}

// A topic never noted as existing counts as _other and takes no label
// slot, however many such names are asked about; a noted topic asked
// about afterwards still gets its own label.
func TestTopicLabelOnlyForKnownTopics(t *testing.T) {
	t.Parallel()
	e := New().Enforce
	for i := range 10 * DefaultTopicCap {
		if got := e.Topic("junk-" + strconv.Itoa(i)); got != OtherTopic {
			t.Fatalf("unknown topic %d: got %q, want %q", i, got, OtherTopic)
		}
	}
	e.NoteTopic("orders")
	if got := e.Topic("orders"); got != "orders" {
		t.Errorf("known topic after the junk: got %q, want orders", got)
	}
}

// The known set stops growing at its cap: a name noted past it stays
// unknown and counts as _other, while names noted before keep working.
func TestKnownTopicsCapped(t *testing.T) {
	t.Parallel()
	e := New().Enforce
	for i := range DefaultKnownTopicCap {
		e.NoteTopic("known-" + strconv.Itoa(i))
	}
	e.NoteTopic("late")
	if got := len(e.known); got != DefaultKnownTopicCap {
		t.Errorf("known set: got %d names, want %d", got, DefaultKnownTopicCap)
	}
	if got := e.Topic("late"); got != OtherTopic {
		t.Errorf("topic noted past the known cap: got %q, want %q", got, OtherTopic)
	}
	if got := e.Topic("known-0"); got != "known-0" {
		t.Errorf("topic noted before the known cap: got %q, want known-0", got)
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
