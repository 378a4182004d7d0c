// Package proxy is schemaproxy's data plane: listeners, client/upstream
// connection pairs, the broker address map and per-API interception.
//
// Each client connection is paired with exactly one upstream connection to
// the broker whose node ID its listener serves (the bootstrap listener uses
// any reachable bootstrap broker). Two goroutines own a pair:
// (*pair).readRequests reads client frames and forwards them upstream, and
// (*pair).writeResponses writes responses back in request order. A bounded
// FIFO of in-flight slots between them keeps responses ordered, local
// answers included, and stops reading from a client whose responses are not
// being consumed, so memory stays bounded and TCP slows each side.
//
// Responses that carry broker addresses (Metadata, FindCoordinator,
// DescribeCluster, Produce and Fetch NodeEndpoints, ShareFetch and
// ShareAcknowledge) are decoded with kmsg, rewritten to point at this
// proxy, and re-encoded; every other frame is forwarded byte for byte.
//
// Package proxy does not terminate SASL: SASL frames pass through so the
// broker authenticates the client itself.
package proxy
