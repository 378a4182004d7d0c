package proxy

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/protocol"
)

func apiKey(k, lo, hi int16) kmsg.ApiVersionsResponseApiKey {
	return kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: lo, MaxVersion: hi}
}

func TestClampVersions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		key, lo, hi    int16
		wantLo, wantHi int16
		wantOK         bool
	}{
		{"produce min forced to 0", keyProduce, 3, 11, 0, 11, true},
		{"produce capped at 12", keyProduce, 0, 99, 0, maxProduceVersion, true},
		{"fetch capped at 15", keyFetch, 4, 18, 4, 15, true},
		{"sasl handshake v0 withheld", keySaslHandshake, 0, 1, 1, 1, true},
		{"sasl handshake only v0 dropped", keySaslHandshake, 0, 0, 1, 0, false},
		{"unknown key dropped", 999, 0, 3, 0, 0, false},
		{"inter-broker dropped", 4, 0, 7, 0, 0, false},
		{"write txn markers dropped", 27, 0, 1, 0, 0, false},
		{"metadata passes", keyMetadata, 0, 12, 0, 12, true},
		{"range above kmsg dropped", keyMetadata, 50, 60, 50, protocol.MaxVersion(keyMetadata), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lo, hi, ok := clampVersions(tt.key, tt.lo, tt.hi)
			if ok != tt.wantOK {
				t.Fatalf("ok: got %v, want %v", ok, tt.wantOK)
			}
			if ok && (lo != tt.wantLo || hi != tt.wantHi) {
				t.Errorf("got %d..%d, want %d..%d", lo, hi, tt.wantLo, tt.wantHi)
			}
		})
	}
}

func finalized(r *kmsg.ApiVersionsResponse, name string) (kmsg.ApiVersionsResponseFinalizedFeature, bool) {
	for _, f := range r.FinalizedFeatures {
		if f.Name == name {
			return f, true
		}
	}
	return kmsg.ApiVersionsResponseFinalizedFeature{}, false
}

func supported(r *kmsg.ApiVersionsResponse, name string) (kmsg.ApiVersionsResponseSupportedFeature, bool) {
	for _, f := range r.SupportedFeatures {
		if f.Name == name {
			return f, true
		}
	}
	return kmsg.ApiVersionsResponseSupportedFeature{}, false
}

// kafka4Like is an ApiVersions v3 response shaped like a Kafka 4.x broker's.
func kafka4Like(produceMax int16) *kmsg.ApiVersionsResponse {
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 3
	r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{
		apiKey(keyProduce, 0, produceMax),
		apiKey(keyFetch, 4, 17),
		apiKey(keyMetadata, 0, 12),
		apiKey(4, 0, 7), // LeaderAndIsr
		apiKey(keyEndTxn, 0, 5),
		apiKey(keyTxnOffsetCommit, 0, 5),
		apiKey(keySaslHandshake, 0, 1),
		apiKey(keyAPIVersions, 0, 4),
		apiKey(999, 0, 1),
	}
	r.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{
		{Name: "transaction.version", MinVersion: 0, MaxVersion: 2},
		{Name: "group.version", MinVersion: 0, MaxVersion: 1},
	}
	r.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{
		{Name: "transaction.version", MinVersionLevel: 2, MaxVersionLevel: 2},
		{Name: "group.version", MinVersionLevel: 1, MaxVersionLevel: 1},
	}
	return r
}

func TestRewriteAPIVersions(t *testing.T) {
	t.Parallel()
	r := kafka4Like(12)
	changed, err := rewriteAPIVersions(nil, r)
	if err != nil || !changed {
		t.Fatalf("got changed %v err %v, want true nil", changed, err)
	}
	got := map[int16][2]int16{}
	for _, k := range r.ApiKeys {
		got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	want := map[int16][2]int16{
		keyProduce:         {0, 12},
		keyFetch:           {4, 15},
		keyMetadata:        {0, 12},
		keyEndTxn:          {0, 5},
		keyTxnOffsetCommit: {0, 5},
		keySaslHandshake:   {1, 1},
		keyAPIVersions:     {0, 4},
	}
	if len(got) != len(want) {
		t.Errorf("got keys %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %v, want %v", kmsg.NameForKey(k), got[k], w)
		}
	}
	// Produce 12 with EndTxn/TxnOffsetCommit 5 keeps transactions v2.
	if f, _ := finalized(r, "transaction.version"); f.MaxVersionLevel != 2 {
		t.Errorf("transaction.version: got %d, want 2", f.MaxVersionLevel)
	}
	// ConsumerGroupHeartbeat is not offered by this broker: group.version goes.
	if _, ok := finalized(r, "group.version"); ok {
		t.Errorf("group.version finalized without ConsumerGroupHeartbeat")
	}
	if _, ok := supported(r, "group.version"); ok {
		t.Errorf("group.version supported without ConsumerGroupHeartbeat")
	}
}

// TestTransactionVersionFollowsProduceClamp: a broker with Produce capped
// below 12 must not advertise transaction.version 2, or clients skip
// AddPartitionsToTxn and the broker answers INVALID_TXN_STATE (KIP-890).
func TestTransactionVersionFollowsProduceClamp(t *testing.T) {
	t.Parallel()
	r := kafka4Like(11)
	if _, err := rewriteAPIVersions(nil, r); err != nil {
		t.Fatal(err)
	}
	f, ok := finalized(r, "transaction.version")
	if !ok || f.MaxVersionLevel != 1 || f.MinVersionLevel > 1 {
		t.Errorf("finalized transaction.version: got %+v (present %v), want max 1", f, ok)
	}
	s, ok := supported(r, "transaction.version")
	if !ok || s.MaxVersion != 1 {
		t.Errorf("supported transaction.version: got %+v (present %v), want max 1", s, ok)
	}
}

func TestRewriteAPIVersionsLeavesErrorsAlone(t *testing.T) {
	t.Parallel()
	r := kafka4Like(12)
	r.ErrorCode = 35
	changed, err := rewriteAPIVersions(nil, r)
	if changed || err != nil {
		t.Errorf("got changed %v err %v, want false nil", changed, err)
	}
}

func TestAPIVersionsUnsupportedIsV0(t *testing.T) {
	t.Parallel()
	frame := apiVersionsUnsupported(77)
	body := frame[4:]
	// Response header v0: correlation ID only, no tag byte.
	if got := int32(body[0])<<24 | int32(body[1])<<16 | int32(body[2])<<8 | int32(body[3]); got != 77 {
		t.Fatalf("correlation id: got %d, want 77", got)
	}
	r := kmsg.NewPtrApiVersionsResponse()
	r.Version = 0
	if err := r.ReadFrom(body[4:]); err != nil {
		t.Fatalf("decode as v0: %v", err)
	}
	if r.ErrorCode != 35 {
		t.Errorf("error code: got %d, want 35", r.ErrorCode)
	}
	if len(r.ApiKeys) != 1 || r.ApiKeys[0].ApiKey != keyAPIVersions || r.ApiKeys[0].MaxVersion != protocol.MaxVersion(keyAPIVersions) {
		t.Errorf("api keys: got %+v, want only ApiVersions 0..%d", r.ApiKeys, protocol.MaxVersion(keyAPIVersions))
	}
	if want := 4 + 4 + 2 + 4 + 6; len(frame) != want {
		t.Errorf("frame length: got %d, want %d (v0 body)", len(frame), want)
	}
}
