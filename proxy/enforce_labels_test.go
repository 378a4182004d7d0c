package proxy_test

import (
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// topicLabels returns the topic label values of the series called name.
func topicLabels(t testing.TB, e *proxytest.Env, name string) []string {
	t.Helper()
	mfs, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	set := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					set[l.GetValue()] = true
				}
			}
		}
	}
	var out []string
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Produce requests naming 1,000 topics that do not exist upstream (never
// listed by a broker's Metadata response, no record ever passed) count as
// _other and take no topic label: a real topic produced afterwards still
// gets its own, whether the proxy learned of it from the Metadata a client
// fetched through it or from a record that passed its check.
func TestJunkTopicsTakeNoLabel(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "passed-value", orderAvro).ID
	e := proxytest.New(t, proxytest.Options{
		Kfake:    []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "real", "passed")},
		Registry: reg,
	})
	raw := leaderRaw(t, e, "real")
	const junk = 1000
	for i := range junk {
		p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"junk-" + itoa(i), 0, valueBatch([]byte("not framed"))})))
		if p.ErrorCode != kerr.InvalidRecord.Code {
			t.Fatalf("junk topic %d: error %v, want INVALID_RECORD", i, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if got := topicLabels(t, e, "schemaproxy_rejections_total"); len(got) != 1 || got[0] != metrics.OtherTopic {
		t.Errorf("rejections_total topic labels after the junk: got %d values, first %q, want only %q", len(got), got[:min(5, len(got))], metrics.OtherTopic)
	}
	if got := counter(t, e, "schemaproxy_rejections_total", "topic", metrics.OtherTopic); got != junk {
		t.Errorf("rejections_total{topic=_other}: got %v, want %v", got, junk)
	}

	// A client fetches "real"'s metadata through the proxy, then its
	// record fails the check.
	cl := e.Client(t, kgo.DefaultProduceTopic("real"), kgo.RecordRetries(1))
	if err := produceSync(t, cl, &kgo.Record{Value: []byte("not framed")}); !isInvalidRecord(err) {
		t.Fatalf("bad record to real: got %v, want INVALID_RECORD", err)
	}
	if got := counter(t, e, "schemaproxy_rejections_total", "topic", "real", "reason", "no_schema_id"); got != 1 {
		t.Errorf("rejections_total{topic=real,reason=no_schema_id}: got %v, want 1", got)
	}

	// "passed" is never fetched through the proxy; its record passing
	// the check is what makes it known.
	if p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{"passed", 0, valueBatch(framed(id, "0"))}))); p.ErrorCode != 0 {
		t.Fatalf("good record to passed: error %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if got := counter(t, e, "schemaproxy_records_validated_total", "topic", "passed", "result", "accepted"); got != 1 {
		t.Errorf("records_validated_total{topic=passed,result=accepted}: got %v, want 1", got)
	}
}
