package proxy_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/metrics"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// With enforcement on, Produce is advertised up to v12, which names
// topics (PR-02's alternative); transaction.version stays as the broker
// offers it, since v12 is all KIP-890 needs (AV-03); and a client that
// sends Produce v13 regardless, which names topics by ID only, has its
// connection closed without anything being forwarded.
func TestEnforceProduceVersions(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "v13-value", orderAvro).ID
	e := enforced(t, reg, "", kfake.SeedTopics(1, "v13"))

	direct := dialRaw(t, e.Cluster.ListenAddrs()[0]).roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
	proxied := leaderRaw(t, e, "v13").roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
	maxOf := func(r *kmsg.ApiVersionsResponse, key int16) (int16, int16) {
		for _, k := range r.ApiKeys {
			if k.ApiKey == key {
				return k.MinVersion, k.MaxVersion
			}
		}
		return -1, -1
	}
	if _, hi := maxOf(direct, 0); hi < 13 {
		t.Fatalf("kfake offers Produce up to v%d; the test needs v13 to show the cap", hi)
	}
	if lo, hi := maxOf(proxied, 0); lo != 0 || hi != 12 {
		t.Errorf("proxy advertises Produce v%d-v%d, want v0-v12", lo, hi)
	}
	for _, key := range []int16{26, 28} { // EndTxn, TxnOffsetCommit: v5 for transactions v2
		if _, hi := maxOf(proxied, key); hi < 5 {
			t.Errorf("proxy advertises %s up to v%d, want at least v5", kmsg.NameForKey(key), hi)
		}
	}
	txnVersion := func(r *kmsg.ApiVersionsResponse) int16 {
		for _, f := range r.FinalizedFeatures {
			if f.Name == "transaction.version" {
				return f.MaxVersionLevel
			}
		}
		return -1
	}
	if v := txnVersion(direct); v < 2 {
		t.Fatalf("kfake finalizes transaction.version %d; the test needs 2", v)
	}
	if got, want := txnVersion(proxied), txnVersion(direct); got != want {
		t.Errorf("proxy advertises transaction.version %d, broker %d: want it kept", got, want)
	}

	// Produce v13, by topic ID, which the broker would accept.
	meta := leaderRaw(t, e, "v13").roundTrip(metadataRequest(12, "v13")).(*kmsg.MetadataResponse)
	if len(meta.Topics) != 1 || meta.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("no topic id for v13 in %+v", meta.Topics)
	}
	req := rawProduce(13, -1, part{"", 0, valueBatch(framed(id, "v13"))})
	req.Topics[0].TopicID = meta.Topics[0].TopicID
	before := connErrors(e.Metrics, metrics.ReasonProtocol)
	raw := leaderRaw(t, e, "v13")
	raw.send(req)
	expectClosed(t, raw.c)
	proxytest.Eventually(t, 5*time.Second, func() error {
		if got := connErrors(e.Metrics, metrics.ReasonProtocol); got != before+1 {
			return fmt.Errorf("connection_errors_total{reason=protocol} = %v, want %v", got, before+1)
		}
		return nil
	})
	wantLanded(t, e, "v13", 0)
}
