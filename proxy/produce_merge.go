package proxy

import (
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

// rejection is one Produce partition the proxy answers instead of the broker.
type rejection struct {
	topic     string
	partition int32
	code      int16
	msg       string                // the partition error_message (v8+)
	records   []enforce.RecordError // record_errors (v8+): each failing record
}

// applyRejections adds each rejected partition to resp, into the entry of
// its topic when the response already has one, so that every partition of
// the request appears exactly once (kgo re-sends partitions a response
// leaves out, and drops duplicates with a log line).
func applyRejections(resp *kmsg.ProduceResponse, rejs []rejection) {
	for _, r := range rejs {
		ti := -1
		for i := range resp.Topics {
			if resp.Topics[i].Topic == r.topic {
				ti = i
				break
			}
		}
		if ti < 0 {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = r.topic
			resp.Topics = append(resp.Topics, t)
			ti = len(resp.Topics) - 1
		}
		t := &resp.Topics[ti]
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = r.partition
		p.ErrorCode = r.code
		p.BaseOffset = -1
		p.LogAppendTime = -1
		p.LogStartOffset = -1
		if r.msg != "" {
			msg := r.msg
			p.ErrorMessage = &msg
		}
		for _, re := range r.records {
			em := re.Message
			p.ErrorRecords = append(p.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: int32(re.Index), ErrorMessage: &em})
		}
		replaced := false
		for i := range t.Partitions {
			if t.Partitions[i].Partition == r.partition {
				t.Partitions[i] = p
				replaced = true
				break
			}
		}
		if !replaced {
			t.Partitions = append(t.Partitions, p)
		}
	}
}

// dropRejected removes the rejected partitions, and any topic left empty,
// from req in place. Records bytes are untouched.
func dropRejected(req *kmsg.ProduceRequest, rejs []rejection) {
	gone := make(map[topicPartition]bool, len(rejs))
	for _, r := range rejs {
		gone[topicPartition{r.topic, r.partition}] = true
	}
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		parts := t.Partitions[:0]
		for _, p := range t.Partitions {
			if !gone[topicPartition{t.Topic, p.Partition}] {
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

type topicPartition struct {
	topic     string
	partition int32
}
