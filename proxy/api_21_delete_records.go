package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// protectDeleteRecords refuses, partition by partition, deleting records
// of protected topics.
func protectDeleteRecords(_ *pair, chk Checker, r kmsg.Request) (func(kmsg.Response) bool, int, int) {
	req := r.(*kmsg.DeleteRecordsRequest)
	var refused []kmsg.DeleteRecordsRequestTopic
	topics := req.Topics[:0]
	n := 0
	for _, t := range req.Topics {
		if chk.Protected(t.Topic) {
			refused = append(refused, t)
			n += len(t.Partitions)
			continue
		}
		topics = append(topics, t)
	}
	req.Topics = topics
	patch := func(r kmsg.Response) bool {
		resp := r.(*kmsg.DeleteRecordsResponse)
		for _, t := range refused {
			ti := -1
			for i := range resp.Topics {
				if resp.Topics[i].Topic == t.Topic {
					ti = i
					break
				}
			}
			if ti < 0 {
				rt := kmsg.NewDeleteRecordsResponseTopic()
				rt.Topic = t.Topic
				resp.Topics = append(resp.Topics, rt)
				ti = len(resp.Topics) - 1
			}
			rt := &resp.Topics[ti]
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, codeTopicAuthFailed
				rt.Partitions = append(rt.Partitions, rp)
			}
		}
		return len(refused) > 0
	}
	return patch, n, len(req.Topics)
}
