package proxy_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

// Produce frames are read into pooled buffers that the next frame of the
// same size reuses as soon as the previous one is forwarded. Topic names
// that outlive their request (the rejection merged into the broker's
// answer, the metrics topic label) must not point into the old buffer:
// with pipelined requests whose topic names differ only in their bytes,
// each answer and each counter must still name its own topic.
func TestEnforcePooledFramesKeepTopicNames(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	topics := []string{"pool-aa", "pool-bb", "pool-cc", "pool-dd"}
	var id int
	for _, tp := range topics {
		id = reg.Avro(t, tp+"-value", orderAvro).ID
	}
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	raw := leaderRaw(t, e, topics[0])

	const rounds = 5
	var corrs []int32
	for i := range rounds * len(topics) {
		tp := topics[i%len(topics)]
		corrs = append(corrs, raw.send(rawProduce(9, -1,
			part{tp, 0, valueBatch(framed(id, "ok"))},
			part{tp, 1, valueBatch(framed(id+1000, "bad"))})))
	}
	for i, corr := range corrs {
		tp := topics[i%len(topics)]
		resp := raw.read(corr)
		if n := entries(resp); n != 2 {
			t.Errorf("request %d (%s): %d partition entries, want 2", i, tp, n)
		}
		got := produced(t, resp)
		if p, ok := got[tp][0]; !ok || p.ErrorCode != 0 {
			t.Errorf("request %d: %s/0 missing or failed: %+v (topics answered: %v)", i, tp, p, keys(got))
		}
		if p, ok := got[tp][1]; !ok || p.ErrorCode != kerr.InvalidRecord.Code {
			t.Errorf("request %d: %s/1 missing or not INVALID_RECORD: %+v (topics answered: %v)", i, tp, p, keys(got))
		}
	}
	for _, tp := range topics {
		if n := counter(t, e, "schemaproxy_rejections_total", "topic", tp, "reason", "unknown_schema_id"); n != rounds {
			t.Errorf("rejections of %s: %v, want %d", tp, n, rounds)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
