package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// protectDeleteTopics refuses the deletion of protected topics. From v6 a
// topic may be named by ID only (KIP-516): the ID is looked up among those
// Metadata and DescribeTopicPartitions responses named through this proxy
// (a client finds IDs there), and an ID never seen is refused too, since
// it may be a protected topic's; deleting by name always works.
func protectDeleteTopics(pr *pair, chk Checker, r kmsg.Request) (func(kmsg.Response) bool, int, int) {
	req := r.(*kmsg.DeleteTopicsRequest)
	var refused []kmsg.DeleteTopicsResponseTopic
	refuse := func(name *string, id [16]byte, msg string) {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic, t.TopicID, t.ErrorCode = name, id, codeTopicAuthFailed
		t.ErrorMessage = &msg
		refused = append(refused, t)
	}
	if req.Version < 6 {
		names := req.TopicNames[:0]
		for _, n := range req.TopicNames {
			if chk.Protected(n) {
				refuse(&n, [16]byte{}, protectedMessage(n))
				continue
			}
			names = append(names, n)
		}
		req.TopicNames = names
	} else {
		topics := req.Topics[:0]
		for _, t := range req.Topics {
			name, known := "", false
			if t.Topic != nil {
				name, known = *t.Topic, true
			} else {
				name, known = pr.p.topicIDs.name(t.TopicID)
			}
			switch {
			case !known:
				refuse(nil, t.TopicID, "schemaproxy: topic ID not seen in a Metadata or DescribeTopicPartitions response through this proxy, so it may name a protected topic (protected_topics): delete by name, or describe the topic through the proxy first")
				continue
			case chk.Protected(name):
				refuse(t.Topic, t.TopicID, protectedMessage(name))
				continue
			}
			if t.Topic != nil {
				// Both set is the broker's error to answer; refuse when
				// the ID names a protected topic under another name.
				if n, ok := pr.p.topicIDs.name(t.TopicID); ok && chk.Protected(n) {
					refuse(t.Topic, t.TopicID, protectedMessage(n))
					continue
				}
			}
			topics = append(topics, t)
		}
		req.Topics = topics
	}
	patch := func(r kmsg.Response) bool {
		resp := r.(*kmsg.DeleteTopicsResponse)
		resp.Topics = append(resp.Topics, refused...)
		return len(refused) > 0
	}
	return patch, len(refused), len(req.TopicNames) + len(req.Topics)
}
