package proxy

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce"
)

// Kafka error codes the proxy answers with itself.
const (
	codeInvalidRecord      int16 = 87 // non-retriable: the record does not conform (PR-03)
	codeNotEnoughReplicas  int16 = 19 // retriable, and means "not written": used when the registry cannot answer
	codeUnsupportedVersion int16 = 35
	codeTopicAuthFailed    int16 = 29 // a protected topic (protect.go)
)

// rejection is one Produce partition the proxy answers instead of the
// broker. It keeps the cause, not its text: error_message and
// record_errors exist from Produce v8 only, so the message is formatted
// (message) when a response that carries it is built, and a request of
// many rejected partitions costs no string per partition below v8.
type rejection struct {
	topic     string
	partition int32
	code      int16
	// err is the checker's error: a *enforce.ValidationError for
	// INVALID_RECORD, any other error for NOT_ENOUGH_REPLICAS; nil when
	// the code needs no message (UNSUPPORTED_VERSION).
	err error
	// with, under the request scope, is the rejection that failed this
	// partition's request; err is then nil. Shared by every such partition.
	with *rejection
}

// message is the partition's error_message (v8+), "" for none.
func (r *rejection) message() string {
	if r.with != nil {
		return "schemaproxy: rejected with its request, which also held " + r.with.message()
	}
	if r.err == nil {
		return ""
	}
	if pe, ok := errors.AsType[protectedError](r.err); ok {
		return protectedMessage(string(pe))
	}
	ve, ok := errors.AsType[*enforce.ValidationError](r.err)
	if !ok {
		return fmt.Sprintf("schemaproxy: %s[%d] not checked, retry: %v", r.topic, r.partition, r.err)
	}
	msg := fmt.Sprintf("schemaproxy: %s[%d] %s (%s)", r.topic, r.partition, ve.Error(), ve.Reason)
	if more := len(ve.Records) - 1; more > 0 {
		msg += fmt.Sprintf("; %d more record(s) failed", more)
	}
	return msg
}

// records is the partition's record_errors (v8+): each failing record.
func (r *rejection) records() []enforce.RecordError {
	if ve, ok := errors.AsType[*enforce.ValidationError](r.err); ok && r.with == nil {
		return ve.Records
	}
	return nil
}

// applyRejections adds each rejected partition to resp, into the entry of
// its topic when the response already has one, so that every partition of
// the request appears exactly once (kgo re-sends partitions a response
// leaves out, and drops duplicates with a log line). A partition the
// response already lists is replaced in place; the others follow their
// topic's partitions, and topics the response lacks follow its topics,
// in the order of rejs. Messages are formatted only from v8, the first
// version that carries them. It returns how many partition entries it
// visited: what the response held plus one per rejection.
func applyRejections(resp *kmsg.ProduceResponse, rejs []rejection) int {
	if len(rejs) == 0 {
		return 0
	}
	ix := newRespIndex(resp, rejs)
	for i := range rejs {
		r := &rejs[i]
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = r.partition
		p.ErrorCode = r.code
		p.BaseOffset = -1
		p.LogAppendTime = -1
		p.LogStartOffset = -1
		if resp.Version >= 8 {
			if msg := r.message(); msg != "" {
				p.ErrorMessage = &msg
			}
			for _, re := range r.records() {
				em := re.Message
				p.ErrorRecords = append(p.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: int32(re.Index), ErrorMessage: &em})
			}
		}
		ix.put(r.topic, p)
	}
	return ix.visits
}

// respIndex finds the entries of a Produce response by topic and
// partition, so that merging n rejections into a response of m partitions
// costs O(n+m) rather than a scan of the response per rejection. The first
// entry wins where a response repeats a topic or partition, as a scan
// would find it.
type respIndex struct {
	resp   *kmsg.ProduceResponse
	topics map[string]int  // topic -> its first entry in resp.Topics
	parts  []map[int32]int // per entry of resp.Topics, made on first use: partition -> index
	adds   map[string]int  // topic -> how many rejections name it: room to make at once
	visits int             // partition entries indexed or written
}

func newRespIndex(resp *kmsg.ProduceResponse, rejs []rejection) *respIndex {
	ix := &respIndex{resp: resp, topics: make(map[string]int, len(resp.Topics)), parts: make([]map[int32]int, len(resp.Topics)), adds: make(map[string]int)}
	for i := range resp.Topics {
		if _, ok := ix.topics[resp.Topics[i].Topic]; !ok {
			ix.topics[resp.Topics[i].Topic] = i
		}
	}
	for i := range rejs {
		ix.adds[rejs[i].topic]++
	}
	return ix
}

// put replaces topic's entry for p.Partition with p, or appends p to the
// topic, adding the topic if the response has none.
func (ix *respIndex) put(topic string, p kmsg.ProduceResponseTopicPartition) {
	ix.visits++
	ti, ok := ix.topics[topic]
	if !ok {
		t := kmsg.NewProduceResponseTopic()
		t.Topic = topic
		ix.resp.Topics = append(ix.resp.Topics, t)
		ti = len(ix.resp.Topics) - 1
		ix.topics[topic] = ti
		ix.parts = append(ix.parts, nil)
	}
	t := &ix.resp.Topics[ti]
	parts := ix.parts[ti]
	if parts == nil {
		add := ix.adds[topic]
		t.Partitions = slices.Grow(t.Partitions, add)
		parts = make(map[int32]int, len(t.Partitions)+add)
		for i := range t.Partitions {
			ix.visits++
			if _, ok := parts[t.Partitions[i].Partition]; !ok {
				parts[t.Partitions[i].Partition] = i
			}
		}
		ix.parts[ti] = parts
	}
	if i, ok := parts[p.Partition]; ok {
		t.Partitions[i] = p
		return
	}
	parts[p.Partition] = len(t.Partitions)
	t.Partitions = append(t.Partitions, p)
}

// partSet is a set of topic partitions, by topic then partition, so a walk
// over a request looks each topic up once.
type partSet map[string]map[int32]struct{}

func (s partSet) add(topic string, partition int32) {
	ps := s[topic]
	if ps == nil {
		ps = make(map[int32]struct{})
		s[topic] = ps
	}
	ps[partition] = struct{}{}
}

// rejectedSet is the set of partitions rejs names.
func rejectedSet(rejs []rejection) partSet {
	s := make(partSet)
	for i := range rejs {
		s.add(rejs[i].topic, rejs[i].partition)
	}
	return s
}

// dropRejected removes the rejected partitions, and any topic left empty,
// from req in place. Records bytes are untouched. A partition named twice
// in req is dropped both times if either is rejected.
func dropRejected(req *kmsg.ProduceRequest, rejs []rejection) {
	gone := rejectedSet(rejs)
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		tgone := gone[t.Topic]
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			if _, ok := tgone[p.Partition]; !ok {
				parts = append(parts, p)
			}
		}
		if len(parts) > 0 {
			t.Partitions = parts
			topics = append(topics, t)
		}
	}
	req.Topics = topics
}
