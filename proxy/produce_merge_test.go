package proxy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce"
)

// produceRequest builds a request with the given topics, each with
// partitions 0..n-1 holding distinct records bytes.
func produceRequest(version int16, topics map[string]int) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = t
		for p := range topics[t] {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = int32(p)
			rp.Records = []byte(fmt.Sprintf("%s-%d", t, p))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

type topicPartition struct {
	topic     string
	partition int32
}

// upstreamAnswer is what a broker answers for req: success everywhere.
func upstreamAnswer(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset = 100
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// TestSplitAndMergeListEveryPartitionOnce: a 3-topic x 2-partition request
// with rejections, forwarded in part and merged back, answers every
// requested partition exactly once, rejected ones with their error.
func TestSplitAndMergeListEveryPartitionOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rejs []rejection
	}{
		{"one partition", []rejection{{topic: "b", partition: 1, code: codeInvalidRecord, err: &enforce.ValidationError{Index: 3, Reason: enforce.ReasonUnknownID, Detail: "bad",
			Records: []enforce.RecordError{{Index: 3, Message: "record 3"}, {Index: 5, Message: "record 5"}}}}}},
		{"whole topic", []rejection{{topic: "a", partition: 0, code: codeInvalidRecord}, {topic: "a", partition: 1, code: codeInvalidRecord}}},
		{"retriable and invalid", []rejection{{topic: "c", partition: 0, code: codeNotEnoughReplicas, err: errors.New("registry down")},
			{topic: "a", partition: 1, code: codeInvalidRecord, err: &enforce.ValidationError{Index: 0, Detail: "x", Records: []enforce.RecordError{{Index: 0, Message: "record 0"}}}}}},
		{"request scope", []rejection{{topic: "c", partition: 1, code: codeInvalidRecord, with: &rejection{topic: "b", partition: 0, code: codeInvalidRecord,
			err: &enforce.ValidationError{Index: -1, Detail: "y"}}}}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, version := range []int16{3, 7, 8, 9, 12} {
				req := produceRequest(version, map[string]int{"a": 2, "b": 2, "c": 2})
				dropRejected(req, tt.rejs)
				forwarded := 0
				for _, tp := range req.Topics {
					if len(tp.Partitions) == 0 {
						t.Errorf("v%d: topic %s forwarded with no partitions", version, tp.Topic)
					}
					for _, p := range tp.Partitions {
						forwarded++
						if string(p.Records) != fmt.Sprintf("%s-%d", tp.Topic, p.Partition) {
							t.Errorf("v%d: records of %s/%d changed to %q", version, tp.Topic, p.Partition, p.Records)
						}
					}
				}
				if want := 6 - len(tt.rejs); forwarded != want {
					t.Errorf("v%d: forwarded %d partitions, want %d", version, forwarded, want)
				}
				resp := upstreamAnswer(req)
				applyRejections(resp, tt.rejs)
				// Round-trip through the wire, as the client would read it.
				wire := resp.AppendTo(nil)
				got := kmsg.NewPtrProduceResponse()
				got.Version = version
				if err := got.ReadFrom(wire); err != nil {
					t.Fatalf("v%d: decode merged response: %v", version, err)
				}
				seen := map[topicPartition]kmsg.ProduceResponseTopicPartition{}
				topicsSeen := map[string]bool{}
				for _, tp := range got.Topics {
					if topicsSeen[tp.Topic] {
						t.Errorf("v%d: topic %s listed twice", version, tp.Topic)
					}
					topicsSeen[tp.Topic] = true
					for _, p := range tp.Partitions {
						k := topicPartition{tp.Topic, p.Partition}
						if _, dup := seen[k]; dup {
							t.Errorf("v%d: %v listed twice", version, k)
						}
						seen[k] = p
					}
				}
				if len(seen) != 6 {
					t.Errorf("v%d: response lists %d partitions, want 6", version, len(seen))
				}
				for _, r := range tt.rejs {
					p := seen[topicPartition{r.topic, r.partition}]
					if p.ErrorCode != r.code {
						t.Errorf("v%d: %s/%d error code got %d, want %d", version, r.topic, r.partition, p.ErrorCode, r.code)
					}
					if p.BaseOffset != -1 {
						t.Errorf("v%d: %s/%d base offset got %d, want -1", version, r.topic, r.partition, p.BaseOffset)
					}
					if version >= 8 {
						if msg := r.message(); msg != "" && (p.ErrorMessage == nil || *p.ErrorMessage != msg) {
							t.Errorf("v%d: %s/%d error message got %v, want %q", version, r.topic, r.partition, p.ErrorMessage, msg)
						}
						if len(p.ErrorRecords) != len(r.records()) {
							t.Errorf("v%d: %s/%d record errors got %+v, want %d", version, r.topic, r.partition, p.ErrorRecords, len(r.records()))
						}
						for i, re := range r.records() {
							if i < len(p.ErrorRecords) && (p.ErrorRecords[i].RelativeOffset != int32(re.Index) || *p.ErrorRecords[i].ErrorMessage != re.Message) {
								t.Errorf("v%d: %s/%d record error %d got %+v, want %+v", version, r.topic, r.partition, i, p.ErrorRecords[i], re)
							}
						}
					}
				}
			}
		})
	}
}

// Each kind of rejection's error_message, formatted when the response is
// built, reads exactly as clients and their logs have always seen it.
func TestRejectionMessage(t *testing.T) {
	t.Parallel()
	invalid := rejection{topic: "orders", partition: 3, code: codeInvalidRecord, err: &enforce.ValidationError{Index: 2,
		Reason: enforce.ReasonUnknownID, Detail: "value schema id 7 is not registered",
		Records: []enforce.RecordError{{Index: 2}, {Index: 4}, {Index: 5}}}}
	tests := []struct {
		name string
		r    rejection
		want string
	}{
		{"invalid", invalid, "schemaproxy: orders[3] record 2: value schema id 7 is not registered (unknown_schema_id); 2 more record(s) failed"},
		{"batch", rejection{topic: "t", partition: 0, code: codeInvalidRecord, err: &enforce.ValidationError{Index: -1, Reason: enforce.ReasonBatchCorrupt, Detail: "crc mismatch"}},
			"schemaproxy: t[0] record batch: crc mismatch (batch_corrupt)"},
		{"not checked", rejection{topic: "t", partition: 1, code: codeNotEnoughReplicas, err: fmt.Errorf("%w: timeout", enforce.ErrRegistryUnavailable)},
			"schemaproxy: t[1] not checked, retry: schema registry unavailable: timeout"},
		{"with its request", rejection{topic: "u", partition: 9, code: codeInvalidRecord, with: &invalid},
			"schemaproxy: rejected with its request, which also held schemaproxy: orders[3] record 2: value schema id 7 is not registered (unknown_schema_id); 2 more record(s) failed"},
		{"unsupported version", rejection{topic: "t", code: codeUnsupportedVersion}, ""},
	}
	for _, tt := range tests {
		if got := tt.r.message(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// Rejections cost work linear in the request. Merging 4x the rejections
// into 4x the broker's answer visits 4x the entries (a scan of the
// response per rejection visits 16x). A v3 request answered whole by the
// proxy allocates less than two values per partition at any size: no
// message is formatted for a version that cannot carry one.
//
// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestRejectionsLinear(t *testing.T) {
	t.Run("merge", func(t *testing.T) {
		visits := func(n int) int {
			req := produceRequest(9, map[string]int{"a": n, "b": n})
			var rejs []rejection
			for _, tp := range req.Topics {
				for _, p := range tp.Partitions {
					if p.Partition%2 == 0 {
						rejs = append(rejs, rejection{topic: tp.Topic, partition: p.Partition, code: codeInvalidRecord})
					}
				}
			}
			dropRejected(req, rejs)
			return applyRejections(upstreamAnswer(req), rejs)
		}
		small, large := visits(1000), visits(4000)
		if large > 4*small {
			t.Errorf("got %d entries visited for 8000 partitions, %d for 2000; want at most 4x", large, small)
		}
	})
	t.Run("allocations", func(t *testing.T) {
		chk := sharedErrChecker{&enforce.ValidationError{Index: -1, Reason: enforce.ReasonBatchCorrupt, Detail: "null records"}}
		pr := loopbackPair(t, chk)
		for _, n := range []int{1000, 4000} {
			allocs := testing.AllocsPerRun(5, func() {
				req := nullRequest(3, n)
				rejs, err := pr.checkProduce(chk, req)
				if err != nil {
					t.Fatal(err)
				}
				dropRejected(req, rejs)
				resp := req.ResponseKind().(*kmsg.ProduceResponse)
				applyRejections(resp, rejs)
				resp.AppendTo(nil)
			})
			if per := allocs / float64(n); per >= 2 {
				t.Errorf("%d partitions: got %.2f allocations per partition, want fewer than 2", n, per)
			}
		}
	})
}

// sharedErrChecker rejects every partition with the same error.
type sharedErrChecker struct{ err error }

func (c sharedErrChecker) Check(context.Context, string, int32, []byte) error { return c.err }
func (sharedErrChecker) RejectScope() enforce.Scope                           { return enforce.ScopePartition }
func (sharedErrChecker) Protected(string) bool                                { return false }
func (sharedErrChecker) HasProtected() bool                                   { return false }
