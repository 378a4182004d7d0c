package proxy

import (
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/protocol"
)

// Protected topics (Checker.Protected, the policy's protected_topics,
// default _schemas): with a checker, the requests that write to a topic
// or change it are refused for those topics with TOPIC_AUTHORIZATION_FAILED,
// the answer of a broker whose ACLs deny the operation. The rest of each
// request is forwarded; every requested entry appears exactly once in
// the answer. Produce is handled in api_00_produce.go; the other APIs
// have a protector each, in their api_NN files. Without a checker the
// proxy is transparent and nothing is refused.

// protector removes the entries of req that name a protected topic and
// returns how many it removed, how many are left, and a patch that adds
// the removed ones to the response, refused, in the entry of their topic
// when the response has one.
type protector func(pr *pair, chk Checker, req kmsg.Request) (patch func(kmsg.Response) bool, refused, left int)

// protectors lists the API keys, besides Produce, that can write to or
// change a topic.
var protectors = map[int16]protector{
	keyDeleteTopics:     protectDeleteTopics,
	keyDeleteRecords:    protectDeleteRecords,
	keyAlterConfigs:     protectAlterConfigs,
	keyCreatePartitions: protectCreatePartitions,
	keyIncrAlterConfigs: protectIncrementalAlterConfigs,
}

// protectedError is the cause of a Produce partition refused because its
// topic is protected; its message is formatted only if it is sent.
type protectedError string

func (e protectedError) Error() string { return protectedMessage(string(e)) }

// protectedMessage is the error message of a refused entry.
func protectedMessage(topic string) string {
	return fmt.Sprintf("schemaproxy: topic %s is protected (protected_topics): clients may not write to it or change it through the proxy", topic)
}

// handleProtected reads a request whose API has a protector, refuses the
// entries naming protected topics, and forwards the rest (the original
// frame when nothing is refused), or answers alone when nothing is left.
func (pr *pair) handleProtected(chk Checker, protect protector, version int16, corr int32, size int32) error {
	bp, err := pr.readFrame(size)
	if err != nil {
		return err
	}
	// Nothing below keeps the frame: the request is decoded by copy and
	// the frame, or its re-encoding, is written before this returns.
	defer protocol.PutFrame(bp)
	frame := *bp
	hdr, err := protocol.ParseRequestHeader(frame[4:])
	if err != nil {
		return protoErr(metrics.ReasonProtocol, "request header: %w", err)
	}
	req := kmsg.RequestForKey(hdr.Key)
	req.SetVersion(version)
	if err := req.ReadFrom(frame[4+hdr.Len:]); err != nil {
		return protoErr(metrics.ReasonProtocol, "%s v%d request: %w", apiName(hdr.Key), version, err)
	}
	patch, refused, left := protect(pr, chk, req)
	s := slot{key: hdr.Key, version: version, corr: corr, rewrite: needsRewrite(hdr.Key, version)}
	if refused == 0 {
		if err := pr.push(s); err != nil {
			return err
		}
		return pr.writeUpstream(frame)
	}
	pr.log.Info("refused a request on a protected topic", "api_key", hdr.Key, "refused", refused, "forwarded", left)
	if left == 0 {
		resp := req.ResponseKind()
		patch(resp)
		pr.p.metrics.LocalResponse(hdr.Key)
		s.local = protocol.AppendResponse(nil, corr, resp)
		return pr.push(s)
	}
	s.rewrite, s.patch = true, patch
	out := append(append(protocol.AppendSize(nil, 0), frame[4:4+hdr.Len]...), req.AppendTo(nil)...)
	protocol.PatchSize(out)
	if err := pr.push(s); err != nil {
		return err
	}
	return pr.writeUpstream(out)
}

// maxTopicIDs bounds the proxy's table of topic IDs; when full it starts
// over.
const maxTopicIDs = 1 << 16

// topicIDs maps topic IDs to names, as Metadata and DescribeTopicPartitions
// responses named them, so that a DeleteTopics naming a topic by ID only
// (v6+) can be checked. An ID is never reused for another topic, so an
// entry never goes stale. Safe for concurrent use; mu is taken alone,
// never with another lock.
type topicIDs struct {
	mu    sync.Mutex
	names map[[16]byte]string
}

func (t *topicIDs) note(id [16]byte, name string) {
	if id == ([16]byte{}) || name == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.names[id]; ok && old == name {
		return
	}
	if t.names == nil || len(t.names) >= maxTopicIDs {
		t.names = make(map[[16]byte]string)
	}
	t.names[id] = strings.Clone(name)
}

func (t *topicIDs) name(id [16]byte) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.names[id]
	return n, ok
}

// noteDescribedIDs is the patch of DescribeTopicPartitions responses: it
// notes their topic IDs and changes nothing.
func (pr *pair) noteDescribedIDs(resp kmsg.Response) bool {
	for _, t := range resp.(*kmsg.DescribeTopicPartitionsResponse).Topics {
		if t.Topic != nil {
			pr.p.topicIDs.note(t.TopicID, *t.Topic)
		}
	}
	return false
}
