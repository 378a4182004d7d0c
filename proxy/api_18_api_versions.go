package proxy

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

// featureNeeds maps a finalized feature to the API a client needs to use it;
// a feature whose API the proxy does not carry is withdrawn, so the client
// falls back instead of calling an API it was not offered.
var featureNeeds = map[string]int16{
	"group.version":   keyConsumerGroupHB, // KIP-848 consumer groups
	"share.version":   keyShareGroupHB,    // KIP-932 share groups
	"streams.version": keyStreamsGroupHB,  // KIP-1071 streams groups
}

// clampVersions returns the version range the proxy advertises for an API
// the broker offers as [lo, hi], and false when the API is withheld.
//
//   - keys kmsg cannot decode and inter-broker keys are withheld (AV-01);
//   - the maximum is capped at what kmsg decodes;
//   - Produce keeps min 0: Kafka 4 advertises 0 while refusing v0-2, and
//     librdkafka <= 2.8 turns compression off when the minimum is above 0
//     (KAFKA-18659); its max is maxProduceVersion (12), which names topics;
//   - SaslHandshake min is 1: v0's raw-token framing is refused;
//   - Fetch max is 15, so fetch responses never carry KIP-951
//     NodeEndpoints and pass through without being parsed.
func clampVersions(key, lo, hi int16) (int16, int16, bool) {
	kmax := protocol.MaxVersion(key)
	if kmax < 0 || interBroker[key] {
		return 0, 0, false
	}
	hi = min(hi, kmax)
	switch key {
	case keyProduce:
		lo, hi = 0, min(hi, maxProduceVersion)
	case keySaslHandshake:
		lo = max(lo, 1)
	case keyFetch:
		hi = min(hi, maxFetchWithoutRewrite)
	}
	return lo, hi, lo <= hi
}

// rewriteAPIVersions advertises, for this upstream connection, the
// intersection of the broker's ranges and what the proxy can carry, and
// keeps the finalized features consistent with it.
func rewriteAPIVersions(_ *pair, resp kmsg.Response) (bool, error) {
	r := resp.(*kmsg.ApiVersionsResponse)
	if r.ErrorCode != 0 {
		return false, nil
	}
	maxOf := make(map[int16]int16, len(r.ApiKeys))
	keys := r.ApiKeys[:0]
	for _, k := range r.ApiKeys {
		lo, hi, ok := clampVersions(k.ApiKey, k.MinVersion, k.MaxVersion)
		if !ok {
			continue
		}
		k.MinVersion, k.MaxVersion = lo, hi
		keys = append(keys, k)
		maxOf[k.ApiKey] = hi
	}
	r.ApiKeys = keys

	// KIP-890: clients use transactions v2 when transaction.version >= 2,
	// and then need Produce >= 12, EndTxn >= 5 and TxnOffsetCommit >= 5.
	// If any of those is capped lower, advertise transaction.version 1.
	has := func(key, v int16) bool { m, ok := maxOf[key]; return ok && m >= v }
	txnV2 := has(keyProduce, 12) && has(keyEndTxn, 5) && has(keyTxnOffsetCommit, 5)
	fin := r.FinalizedFeatures[:0]
	for _, f := range r.FinalizedFeatures {
		if key, ok := featureNeeds[f.Name]; ok && !has(key, 0) {
			continue
		}
		if f.Name == "transaction.version" && !txnV2 && f.MaxVersionLevel > 1 {
			f.MaxVersionLevel = 1
			f.MinVersionLevel = min(f.MinVersionLevel, 1)
		}
		fin = append(fin, f)
	}
	r.FinalizedFeatures = fin
	sup := r.SupportedFeatures[:0]
	for _, f := range r.SupportedFeatures {
		if key, ok := featureNeeds[f.Name]; ok && !has(key, 0) {
			continue
		}
		if f.Name == "transaction.version" && !txnV2 && f.MaxVersion > 1 {
			f.MaxVersion = 1
			f.MinVersion = min(f.MinVersion, 1)
		}
		sup = append(sup, f)
	}
	r.SupportedFeatures = sup
	return true, nil
}

// apiVersionsUnsupported is the KIP-511 answer to an ApiVersions request
// newer than the proxy decodes: a v0 body (v0 header too, as always for
// ApiVersions) with UNSUPPORTED_VERSION and the range the client may retry
// within.
func apiVersionsUnsupported(corr int32) []byte {
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 0
	r.ErrorCode = 35
	r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: keyAPIVersions, MinVersion: 0, MaxVersion: protocol.MaxVersion(keyAPIVersions)}}
	return protocol.AppendResponse(nil, corr, r)
}
