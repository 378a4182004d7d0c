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
// Requests are copied upstream byte for byte, except Produce. A Produce
// request is read whole and, when a Checker is set, each partition is
// checked: if all pass, the frame goes upstream as it was read; if some
// fail, the request is re-encoded without them, around the untouched
// record batches; if all fail, nothing is forwarded.
//
// The proxy answers some requests itself, in order with the broker's
// responses: Produce v0-2 (UNSUPPORTED_VERSION for every partition), a
// Produce whose every partition was rejected, and an ApiVersions request
// newer than kmsg decodes (the KIP-511 v0 reply). It closes the connection,
// after the responses owed for earlier requests, on a request it never
// advertises (an unknown key, a version above those kmsg decodes, Produce
// v13, an inter-broker key, SaslHandshake v0), on a malformed frame, and on
// an acks=0 Produce that is v0-2 or has a rejected partition.
//
// Responses that carry broker addresses (Metadata, FindCoordinator,
// DescribeCluster, Produce v9+ and Fetch v16+ NodeEndpoints, ShareFetch and
// ShareAcknowledge) are decoded with kmsg, rewritten to point at this
// proxy, and re-encoded with unknown tagged fields kept. ApiVersions
// responses are re-encoded with the ranges and features the proxy can
// carry, and a Produce response gets the partitions rejected by the proxy
// merged in. A decoded response that needs no change, and every other
// response, is copied to the client byte for byte.
//
// Package proxy does not terminate SASL: SASL frames pass through so the
// broker authenticates the client itself.
package proxy
