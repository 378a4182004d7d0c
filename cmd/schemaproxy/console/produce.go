package console

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Landed is where a produced record was written.
type Landed struct {
	Topic     string
	Partition int32
	Offset    int64
}

// retryBackoff is the pause before asking again after a retriable error
// (a leader moving, a topic still being created, the proxy's registry
// slow: NOT_ENOUGH_REPLICAS).
const retryBackoff = 250 * time.Millisecond

// Produce writes one record, key and value as given (nil is null), to a
// partition of topic chosen at random, in a Produce request of its own
// with acks=all, sent to the partition's leader through cl. Retriable
// errors are retried, with fresh metadata, until ctx ends. A refusal is a
// *RefusedError carrying the response's error message; any other error
// (no connection, ctx ended) is returned as it is. cl must be configured
// with the default acks (all).
func Produce(ctx context.Context, cl *kgo.Client, topic string, key, value []byte) (Landed, error) {
	batch := appendBatch(nil, time.Now(), key, value)
	for {
		l, err := produceOnce(ctx, cl, topic, batch)
		if err == nil || !kerr.IsRetriable(err) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return l, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(retryBackoff):
		}
	}
}

func produceOnce(ctx context.Context, cl *kgo.Client, topic string, batch []byte) (Landed, error) {
	l := Landed{Topic: topic, Partition: -1, Offset: -1}
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	meta.AllowAutoTopicCreation = true
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return l, fmt.Errorf("metadata: %w", err)
	}
	if len(mresp.Topics) != 1 {
		return l, fmt.Errorf("metadata: %d topics in the answer, want 1", len(mresp.Topics))
	}
	t := mresp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return l, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(t.Partitions) == 0 {
		return l, fmt.Errorf("%s: %w", topic, ErrNoPartitions)
	}
	p := t.Partitions[rand.IntN(len(t.Partitions))]
	l.Partition = p.Partition
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return l, fmt.Errorf("metadata of %s[%d]: %w", topic, p.Partition, err)
	}

	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = p.Partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.Broker(int(p.Leader)).Request(ctx, req)
	if err != nil {
		return l, fmt.Errorf("produce to %s[%d] at node %d: %w", topic, p.Partition, p.Leader, err)
	}
	presp := resp.(*kmsg.ProduceResponse)
	if len(presp.Topics) != 1 || len(presp.Topics[0].Partitions) != 1 {
		return l, errors.New("produce: the answer does not name the one partition asked about")
	}
	pr := presp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(pr.ErrorCode); err != nil {
		if kerr.IsRetriable(err) {
			return l, fmt.Errorf("produce to %s[%d]: %w", topic, p.Partition, err)
		}
		re := &RefusedError{Topic: topic, Partition: p.Partition, Err: err}
		if pr.ErrorMessage != nil {
			re.Message = *pr.ErrorMessage
		}
		if re.Message == "" && len(pr.ErrorRecords) > 0 && pr.ErrorRecords[0].ErrorMessage != nil {
			re.Message = *pr.ErrorRecords[0].ErrorMessage
		}
		return l, re
	}
	l.Offset = pr.BaseOffset
	return l, nil
}

// appendBatch appends a magic-2 record batch holding one uncompressed
// record, as a non-idempotent producer writes it.
func appendBatch(dst []byte, now time.Time, key, value []byte) []byte {
	rec := kmsg.Record{Key: key, Value: value}
	// Length counts what follows it: encode once with a 1-byte varint 0
	// to learn it.
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	records := rec.AppendTo(nil)
	ms := now.UnixMilli()
	b := kmsg.RecordBatch{
		Length:               int32(49 + len(records)),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		FirstTimestamp:       ms,
		MaxTimestamp:         ms,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              records,
	}
	start := len(dst)
	dst = b.AppendTo(dst)
	// The CRC-32C covers everything after the CRC field (attributes on).
	binary.BigEndian.PutUint32(dst[start+17:], crc32.Checksum(dst[start+21:], castagnoli))
	return dst
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)
