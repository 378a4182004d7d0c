package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/protocol"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// Avro schemas for the enforcement tests. Distinct texts get distinct IDs.
const (
	orderAvro   = `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"}]}`
	orderV2Avro = `{"type":"record","name":"Order","namespace":"com.shop","fields":[{"name":"id","type":"string"},{"name":"note","type":"string","default":""}]}`
	refundAvro  = `{"type":"record","name":"Refund","namespace":"com.shop","fields":[{"name":"n","type":"long"}]}`
	keyAvro     = `{"type":"record","name":"OrderKey","namespace":"com.shop","fields":[{"name":"k","type":"string"}]}`
)

// avroBody is an Avro-encoded Order ({"id": "abc"}); mode id never
// decodes it, but it keeps the records realistic.
var avroBody = []byte{0x06, 'a', 'b', 'c'}

// enforced starts a kfake cluster (kopts after the default of three
// brokers) and a proxy enforcing policy ("" for the default policy)
// against reg.
func enforced(t testing.TB, reg *enforcetest.Registry, policy string, kopts ...kfake.Opt) *proxytest.Env {
	t.Helper()
	return proxytest.New(t, proxytest.Options{Kfake: kopts, Registry: reg, Policy: policy})
}

// framed returns a Confluent-framed Avro value for schema id whose payload
// ends with tag, so that records stay distinguishable once they land.
func framed(id int, tag string) []byte {
	return enforcetest.Value(id, append(append([]byte(nil), avroBody...), tag...))
}

// tagOf returns the tag framed appended, or the whole value when it is not
// a framed value.
func tagOf(v []byte) string {
	if len(v) >= 5+len(avroBody) && v[0] == 0 {
		return string(v[5+len(avroBody):])
	}
	return string(v)
}

// part is one partition of a raw Produce request.
type part struct {
	topic     string
	partition int32
	records   []byte
}

// rawProduce builds a Produce request, grouping parts by topic in the
// order the topics first appear.
func rawProduce(version, acks int16, parts ...part) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 5000
	for _, p := range parts {
		i := slices.IndexFunc(req.Topics, func(t kmsg.ProduceRequestTopic) bool { return t.Topic == p.topic })
		if i < 0 {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p.partition
		rp.Records = p.records
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// valueBatch is an uncompressed batch holding one record per value.
func valueBatch(vals ...[]byte) []byte {
	recs := make([]enforcetest.Rec, len(vals))
	for i, v := range vals {
		recs[i] = enforcetest.Rec{Value: v}
	}
	return enforcetest.Batch(protocol.CodecNone, recs...)
}

// produced indexes a Produce response by topic and partition, failing on
// a partition answered twice.
func produced(t testing.TB, resp kmsg.Response) map[string]map[int32]kmsg.ProduceResponseTopicPartition {
	t.Helper()
	out := map[string]map[int32]kmsg.ProduceResponseTopicPartition{}
	for _, rt := range resp.(*kmsg.ProduceResponse).Topics {
		if out[rt.Topic] != nil {
			t.Errorf("topic %s appears twice in the produce response", rt.Topic)
		} else {
			out[rt.Topic] = map[int32]kmsg.ProduceResponseTopicPartition{}
		}
		for _, rp := range rt.Partitions {
			if _, dup := out[rt.Topic][rp.Partition]; dup {
				t.Errorf("%s/%d appears twice in the produce response", rt.Topic, rp.Partition)
			}
			out[rt.Topic][rp.Partition] = rp
		}
	}
	return out
}

// entries counts the partitions of a Produce response.
func entries(resp kmsg.Response) int {
	n := 0
	for _, rt := range resp.(*kmsg.ProduceResponse).Topics {
		n += len(rt.Partitions)
	}
	return n
}

// onlyPartition returns the single partition of a one-partition response.
func onlyPartition(t testing.TB, resp kmsg.Response) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response has %d partitions, want 1: %+v", entries(r), r.Topics)
	}
	return r.Topics[0].Partitions[0]
}

// wantRejected checks an INVALID_RECORD answer. From v8 the partition
// message must contain every string of want, and record_errors must list
// exactly the failing records, in order, each with a message naming it
// (none when the batch itself is at fault). Below v8 only the code exists.
func wantRejected(t testing.TB, version int16, p kmsg.ProduceResponseTopicPartition, failing []int32, want ...string) {
	t.Helper()
	if p.ErrorCode != kerr.InvalidRecord.Code {
		t.Errorf("v%d: error code %d (%v), want INVALID_RECORD", version, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode))
		return
	}
	if version < 8 {
		if p.ErrorMessage != nil || len(p.ErrorRecords) != 0 {
			t.Errorf("v%d: message %v and record errors %+v below v8", version, p.ErrorMessage, p.ErrorRecords)
		}
		return
	}
	if p.ErrorMessage == nil {
		t.Errorf("v%d: no error message", version)
		return
	}
	msg := *p.ErrorMessage
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("v%d: error message %q does not mention %q", version, msg, w)
		}
	}
	var got []int32
	for _, re := range p.ErrorRecords {
		got = append(got, re.RelativeOffset)
		if re.ErrorMessage == nil || !strings.Contains(*re.ErrorMessage, fmt.Sprintf("record %d", re.RelativeOffset)) {
			t.Errorf("v%d: record error message %v does not name record %d", version, re.ErrorMessage, re.RelativeOffset)
		}
	}
	if !slices.Equal(got, failing) {
		t.Errorf("v%d: record_errors batch_index %v, want %v", version, got, failing)
	}
}

// landed returns what topic/partition holds in kfake, read directly and
// read_uncommitted up to the end offset at the time of the call.
func landed(t testing.TB, e *proxytest.Env, topic string, partition int32) []*kgo.Record {
	t.Helper()
	ctx := testCtx(t, 15*time.Second)
	cl := directClient(t, e)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	o, ok := ends.Lookup(topic, partition)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s/%d: found %v, %v", topic, partition, ok, o.Err)
	}
	if o.Offset == 0 {
		return nil
	}
	cons := directClient(t, e, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().AtStart()},
	}))
	var recs []*kgo.Record
	for len(recs) == 0 || recs[len(recs)-1].Offset < o.Offset-1 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s/%d: read %d records below end offset %d: %v", topic, partition, len(recs), o.Offset, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}

// landedTags is landed's record tags (see framed), in offset order, after
// checking that offsets run from 0 without a gap.
func landedTags(t testing.TB, e *proxytest.Env, topic string, partition int32) []string {
	t.Helper()
	var tags []string
	for i, r := range landed(t, e, topic, partition) {
		if r.Offset != int64(i) {
			t.Errorf("%s/%d: record %d at offset %d, want contiguous offsets from 0", topic, partition, i, r.Offset)
		}
		tags = append(tags, tagOf(r.Value))
	}
	return tags
}

// wantLanded fails unless topic/partition holds exactly tags, in order.
func wantLanded(t testing.TB, e *proxytest.Env, topic string, partition int32, tags ...string) {
	t.Helper()
	if got := landedTags(t, e, topic, partition); !slices.Equal(got, tags) {
		t.Errorf("%s/%d holds %q, want %q", topic, partition, got, tags)
	}
}

// isInvalidRecord reports whether err is INVALID_RECORD.
func isInvalidRecord(err error) bool { return errors.Is(err, kerr.InvalidRecord) }

// counter sums the series of the counter called name whose labels include
// all of want (pairs of name, value); a series not yet created counts 0.
func counter(t testing.TB, e *proxytest.Env, name string, want ...string) float64 {
	t.Helper()
	mfs, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(want); i += 2 {
				if labels[want[i]] != want[i+1] {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// histogramCount returns the sample count of the histogram called name.
func histogramCount(t testing.TB, e *proxytest.Env, name string) uint64 {
	t.Helper()
	mfs, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	t.Fatalf("no histogram %s", name)
	return 0
}

// leaderRaw dials the proxy listener of the leader of topic/0.
func leaderRaw(t testing.TB, e *proxytest.Env, topic string) *rawClient {
	t.Helper()
	return dialRaw(t, e.Proxy.NodeAddr(e.Cluster.LeaderFor(topic, 0)))
}

// boundWait is how long a kgo produce may take before the test gives up
// on it. kgo never abandons idempotent records already sent, so a proxy
// that answers wrongly can keep them retrying forever: without a bound
// the test would hang instead of failing.
const boundWait = 20 * time.Second

// produceSync is ProduceSync, failing the test if the records are not
// done within boundWait.
func produceSync(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cl.ProduceSync(context.Background(), recs...).FirstErr() }()
	select {
	case err := <-done:
		return err
	case <-time.After(boundWait):
		t.Fatalf("produce not done within %v", boundWait)
		return nil
	}
}

// waitGroup waits for wg, failing the test after boundWait.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(boundWait):
		t.Fatalf("%s not done within %v", what, boundWait)
	}
}

// waitCtx is a context for one test's client calls.
func waitCtx(t testing.TB) context.Context { return testCtx(t, 30*time.Second) }
