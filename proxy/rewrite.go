package proxy

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// rewriter edits a decoded response in place and reports whether it changed.
type rewriter func(pr *pair, resp kmsg.Response) (bool, error)

// rewriterFor returns the rewriter for an API whose responses can name
// brokers, or nil. TestEveryHostFieldIsHandled fails when kmsg grows a
// response with a host field that has neither a rewriter nor an entry in
// notRewritten.
func rewriterFor(key int16) rewriter {
	switch key {
	case keyProduce:
		return rewriteProduce
	case keyFetch:
		return rewriteFetch
	case keyMetadata:
		return rewriteMetadata
	case keyFindCoordinator:
		return rewriteFindCoordinator
	case keyAPIVersions:
		return rewriteAPIVersions
	case keyDescribeCluster:
		return rewriteDescribeCluster
	case keyShareFetch:
		return rewriteShareFetch
	case keyShareAcknowledge:
		return rewriteShareAcknowledge
	}
	return nil
}

// notRewritten lists responses with host fields that are deliberately
// passed through, and why.
var notRewritten = map[int16]string{
	29: "DescribeAcls: host is an ACL host pattern, not a broker",
	31: "DeleteAcls: host is an ACL host pattern, not a broker",
	55: "DescribeQuorum: controller listeners; clients do not dial them",
	89: "StreamsGroupDescribe: Kafka Streams application endpoints, not brokers",
	88: "StreamsGroupHeartbeat: Kafka Streams application endpoints, not brokers",
	// Inter-broker APIs never reach a client connection (interBroker).
}

var errNotDecoded = errors.New("response not decoded")

// rewriteResponse decodes frame (size prefix included), applies the
// rewriter for s.key and re-encodes it with the original response header.
// A response that needs no change is returned as it came.
func (pr *pair) rewriteResponse(s slot, frame []byte) ([]byte, error) {
	body := frame[4:]
	hlen, err := protocol.ResponseHeaderLen(s.key, s.version, body)
	if err != nil {
		return nil, err
	}
	if s.key == keyAPIVersions && len(body) >= hlen+2 && body[hlen] == 0 && body[hlen+1] == 35 {
		// UNSUPPORTED_VERSION: the broker answered in v0 (KIP-511) with
		// only its ApiVersions range, which clients retry within.
		return frame, nil
	}
	rw := rewriterFor(s.key)
	if rw == nil && s.patch == nil {
		return nil, fmt.Errorf("%w: no rewriter for key %d", errNotDecoded, s.key)
	}
	resp := kmsg.ResponseForKey(s.key)
	resp.SetVersion(s.version)
	if err := resp.ReadFrom(body[hlen:]); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	var changed bool
	if rw != nil {
		if changed, err = rw(pr, resp); err != nil {
			return nil, err
		}
	}
	if s.patch != nil && s.patch(resp) {
		changed = true
	}
	if s.merge != nil {
		applyRejections(resp.(*kmsg.ProduceResponse), *s.merge)
		changed = true
	}
	if !changed {
		return frame, nil
	}
	out := make([]byte, 4, len(frame)+64)
	out = append(out, body[:hlen]...)
	out = resp.AppendTo(out)
	protocol.PatchSize(out)
	return out, nil
}

// advertise records node id at host:port upstream and returns the proxy's
// address for it, opening its listener first if needed.
func (pr *pair) advertise(id int32, host *string, port *int32) error {
	h, p, err := pr.p.brokers.ensure(id, *host, *port)
	if err != nil {
		return err
	}
	*host, *port = h, p
	return nil
}

// advertiseAll advertises every node in nodes, whose fields f points at.
func advertiseAll[T any](pr *pair, nodes []T, f func(*T) (int32, *string, *int32)) (bool, error) {
	for i := range nodes {
		id, host, port := f(&nodes[i])
		if err := pr.advertise(id, host, port); err != nil {
			return false, err
		}
	}
	return len(nodes) > 0, nil
}

// rewriteMetadata advertises the brokers and notes every topic listed
// without error as existing upstream, so that it may take a topic label of
// its own (metrics.Enforcement.NoteTopic): names a client made up never do.
// With a checker it also keeps each topic's ID, for deletes by ID of
// protected topics (protect.go).
func rewriteMetadata(pr *pair, resp kmsg.Response) (bool, error) {
	r := resp.(*kmsg.MetadataResponse)
	for i := range r.Topics {
		t := &r.Topics[i]
		if t.Topic == nil {
			continue
		}
		if pr.p.cfg.Checker != nil {
			pr.p.topicIDs.note(t.TopicID, *t.Topic)
		}
		if t.ErrorCode == 0 {
			pr.p.metrics.Enforce.NoteTopic(*t.Topic)
		}
	}
	return advertiseAll(pr, r.Brokers,
		func(b *kmsg.MetadataResponseBroker) (int32, *string, *int32) { return b.NodeID, &b.Host, &b.Port })
}

// validNode reports whether a coordinator entry names a real node: on
// errors such as COORDINATOR_NOT_AVAILABLE brokers send -1, "" and -1,
// which are passed through untouched and open no listener.
func validNode(id int32, host string) bool { return id >= 0 && host != "" }

func rewriteFindCoordinator(pr *pair, resp kmsg.Response) (bool, error) {
	r := resp.(*kmsg.FindCoordinatorResponse)
	changed := false
	if r.Version < 4 {
		if validNode(r.NodeID, r.Host) {
			if err := pr.advertise(r.NodeID, &r.Host, &r.Port); err != nil {
				return false, err
			}
			changed = true
		}
		return changed, nil
	}
	for i := range r.Coordinators {
		c := &r.Coordinators[i]
		if !validNode(c.NodeID, c.Host) {
			continue
		}
		if err := pr.advertise(c.NodeID, &c.Host, &c.Port); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

func rewriteDescribeCluster(pr *pair, resp kmsg.Response) (bool, error) {
	return advertiseAll(pr, resp.(*kmsg.DescribeClusterResponse).Brokers,
		func(b *kmsg.DescribeClusterResponseBroker) (int32, *string, *int32) {
			return b.NodeID, &b.Host, &b.Port
		})
}

// rewriteProduce rewrites KIP-951 NodeEndpoints (tag 0), which brokers
// fill only for partitions that failed with NOT_LEADER_OR_FOLLOWER.
func rewriteProduce(pr *pair, resp kmsg.Response) (bool, error) {
	return advertiseAll(pr, resp.(*kmsg.ProduceResponse).Brokers,
		func(b *kmsg.ProduceResponseBroker) (int32, *string, *int32) { return b.NodeID, &b.Host, &b.Port })
}

// rewriteFetch handles Fetch v16+ NodeEndpoints. ApiVersions caps Fetch at
// v15 so that fetch responses pass through unparsed; this covers a client
// that sends v16+ regardless.
func rewriteFetch(pr *pair, resp kmsg.Response) (bool, error) {
	return advertiseAll(pr, resp.(*kmsg.FetchResponse).Brokers,
		func(b *kmsg.FetchResponseBroker) (int32, *string, *int32) { return b.NodeID, &b.Host, &b.Port })
}

// rewriteShareFetch rewrites NodeEndpoints, a regular (not tagged) field.
func rewriteShareFetch(pr *pair, resp kmsg.Response) (bool, error) {
	return advertiseAll(pr, resp.(*kmsg.ShareFetchResponse).NodeEndpoints,
		func(b *kmsg.ShareFetchResponseNodeEndpoint) (int32, *string, *int32) {
			return b.NodeID, &b.Host, &b.Port
		})
}

func rewriteShareAcknowledge(pr *pair, resp kmsg.Response) (bool, error) {
	return advertiseAll(pr, resp.(*kmsg.ShareAcknowledgeResponse).NodeEndpoints,
		func(b *kmsg.ShareAcknowledgeResponseNodeEndpoint) (int32, *string, *int32) {
			return b.NodeID, &b.Host, &b.Port
		})
}
