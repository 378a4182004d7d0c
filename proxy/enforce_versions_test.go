package proxy_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
)

// With enforcement on, Produce is advertised up to v12, which names
// topics (PR-02's alternative); transaction.version stays as the broker
// offers it, since v12 is all KIP-890 needs (AV-03). A client that sends
// Produce v13 regardless is disconnected: TestProduceNeverAdvertisedVersion.
func TestEnforceProduceVersions(t *testing.T) {
	t.Parallel()
	e := enforced(t, enforcetest.NewRegistry(t), "", kfake.SeedTopics(1, "v13"))

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
}
