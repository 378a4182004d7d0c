package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// protectCreatePartitions refuses adding partitions to protected topics
// (validate_only requests too).
func protectCreatePartitions(_ *pair, chk Checker, r kmsg.Request) (func(kmsg.Response) bool, int, int) {
	req := r.(*kmsg.CreatePartitionsRequest)
	var refused []kmsg.CreatePartitionsResponseTopic
	topics := req.Topics[:0]
	for _, t := range req.Topics {
		if chk.Protected(t.Topic) {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			msg := protectedMessage(t.Topic)
			rt.Topic, rt.ErrorCode, rt.ErrorMessage = t.Topic, codeTopicAuthFailed, &msg
			refused = append(refused, rt)
			continue
		}
		topics = append(topics, t)
	}
	req.Topics = topics
	patch := func(r kmsg.Response) bool {
		resp := r.(*kmsg.CreatePartitionsResponse)
		resp.Topics = append(resp.Topics, refused...)
		return len(refused) > 0
	}
	return patch, len(refused), len(req.Topics)
}
