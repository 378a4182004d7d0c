package proxy_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/enforce"
	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// The enforcement series follow the traffic step by step: records
// validated by topic and result, rejections by topic and reason, registry
// requests by outcome, cache look-ups by result, and one validation
// duration sample per checked partition. The registry cache asks once per
// distinct question, and a batch whose records share a schema asks about
// the subject once.
func TestEnforceMetricsFollowTraffic(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "met-value", orderAvro).ID
	elsewhere := reg.Avro(t, "elsewhere-value", refundAvro).ID
	e := proxytest.New(t, proxytest.Options{
		Kfake:    []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "met", "met-off")},
		Registry: reg,
		Policy: `
rules:
  - topics: ["met-off"]
    value: {mode: off}
`,
		// Repeated unknown ids must come from the negative cache however
		// slow the machine.
		RegistryOpts: []enforce.RegistryOpt{enforce.WithNegativeTTL(time.Minute)},
	})
	raw := leaderRaw(t, e, "met")

	type want struct {
		accepted, rejected                float64
		unknownID, wrongSubject, noSchema float64
		ok, notFound, errs                float64
		hit, miss                         float64
		samples                           uint64
	}
	check := func(step string, w want) {
		t.Helper()
		got := want{
			accepted:     counter(t, e, "schemaproxy_records_validated_total", "topic", "met", "result", "accepted"),
			rejected:     counter(t, e, "schemaproxy_records_validated_total", "topic", "met", "result", "rejected"),
			unknownID:    counter(t, e, "schemaproxy_rejections_total", "topic", "met", "reason", "unknown_schema_id"),
			wrongSubject: counter(t, e, "schemaproxy_rejections_total", "topic", "met", "reason", "wrong_subject"),
			noSchema:     counter(t, e, "schemaproxy_rejections_total", "topic", "met", "reason", "no_schema_id"),
			ok:           counter(t, e, "schemaproxy_registry_requests_total", "outcome", "ok"),
			notFound:     counter(t, e, "schemaproxy_registry_requests_total", "outcome", "not_found"),
			errs:         counter(t, e, "schemaproxy_registry_requests_total", "outcome", "error"),
			hit:          counter(t, e, "schemaproxy_registry_cache_lookups_total", "result", "hit"),
			miss:         counter(t, e, "schemaproxy_registry_cache_lookups_total", "result", "miss"),
			samples:      histogramCount(t, e, "schemaproxy_validation_duration_seconds"),
		}
		if got != w {
			t.Errorf("after %s:\n got %+v\nwant %+v", step, got, w)
		}
	}
	send := func(topic string, wantCode int16, vals ...[]byte) {
		t.Helper()
		p := onlyPartition(t, raw.roundTrip(rawProduce(9, -1, part{topic, 0, valueBatch(vals...)})))
		if p.ErrorCode != wantCode {
			t.Fatalf("%s: error %v, want %v", topic, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(wantCode))
		}
	}
	five := [][]byte{framed(id, "0"), framed(id, "1"), framed(id, "2"), framed(id, "3"), framed(id, "4")}

	check("nothing", want{})

	// Five records, one schema: the id and the subject are each asked
	// once (misses), then remembered for the batch.
	send("met", 0, five...)
	w := want{accepted: 5, ok: 2, miss: 2, samples: 1}
	check("a first valid batch", w)

	// Again: everything from the cache, once per batch.
	send("met", 0, five...)
	w.accepted, w.hit, w.samples = 10, w.hit+2, 2
	check("the same batch again", w)

	// An unknown id: asked (404). A later request asks again: a "not
	// found" asked before a request arrived is never its verdict, since
	// the schema may have been registered since.
	send("met", kerr.InvalidRecord.Code, framed(id+1000, "u"))
	w.rejected, w.unknownID, w.notFound, w.miss, w.samples = 1, 1, 1, w.miss+1, 3
	check("an unknown id", w)
	send("met", kerr.InvalidRecord.Code, framed(id+1000, "u"))
	w.rejected, w.unknownID, w.notFound, w.miss, w.samples = 2, 2, w.notFound+1, w.miss+1, 4
	check("the unknown id again", w)

	// An id registered under another subject: both questions asked.
	send("met", kerr.InvalidRecord.Code, framed(elsewhere, "x"))
	w.rejected, w.wrongSubject, w.ok, w.miss, w.samples = 3, 1, w.ok+2, w.miss+2, 5
	check("an id under another subject", w)

	// No schema id: judged without the registry.
	send("met", kerr.InvalidRecord.Code, []byte("garbage"))
	w.rejected, w.noSchema, w.samples = 4, 1, 6
	check("a record without a schema id", w)

	// Two failing records in one batch: each counts as rejected, the
	// partition once; the valid record between them is looked up (cache
	// hits) but, its batch being rejected, not counted as accepted.
	send("met", kerr.InvalidRecord.Code, []byte("garbage"), framed(id, "ok"), []byte("garbage"))
	w.rejected, w.noSchema, w.hit, w.samples = 6, 2, w.hit+2, 7
	check("a batch with two records without a schema id", w)

	// A topic whose rule checks nothing is not timed or counted.
	send("met-off", 0, []byte("garbage"))
	check("an unchecked topic", w)

	// The registry failing: an error, no verdict, nothing counted as
	// validated or rejected.
	reg.SetFault(enforcetest.FailWith(500, 50001))
	send("met", kerr.NotEnoughReplicas.Code, framed(id+2000, "e"))
	w.errs, w.miss, w.samples = 1, w.miss+1, 8
	check("a registry error", w)
}
