package proxy_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// interBrokerKeys are API keys only brokers and controllers send to each
// other (ADDR-08); a proxy must never advertise them to clients.
var interBrokerKeys = []int16{4, 5, 6, 7, 27, 52, 53, 54, 56, 58, 59, 62, 63, 67, 70, 73, 82, 83, 84, 85, 86, 87}

func kmsgMax(key int16) int16 {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return -1
	}
	return r.MaxVersion()
}

// checkAdvertised asserts the invariants of every ApiVersions answer the
// proxy gives (AV-01, AV-02, AV-06, ADDR-05).
func checkAdvertised(t *testing.T, what string, keys []kmsg.ApiVersionsResponseApiKey) map[int16]kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	byKey := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range keys {
		if _, dup := byKey[k.ApiKey]; dup {
			t.Errorf("%s: key %d advertised twice", what, k.ApiKey)
		}
		byKey[k.ApiKey] = k
		if m := kmsgMax(k.ApiKey); m < 0 {
			t.Errorf("%s: key %d advertised, but kmsg cannot decode it", what, k.ApiKey)
		} else if k.MaxVersion > m {
			t.Errorf("%s: %s max %d, above kmsg's %d", what, kmsg.NameForKey(k.ApiKey), k.MaxVersion, m)
		}
		if k.MinVersion > k.MaxVersion {
			t.Errorf("%s: %s range %d..%d is empty", what, kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion)
		}
	}
	for _, k := range interBrokerKeys {
		if _, ok := byKey[k]; ok {
			t.Errorf("%s: inter-broker key %d (%s) advertised", what, k, kmsg.NameForKey(k))
		}
	}
	if p, ok := byKey[int16(kmsg.Produce)]; !ok || p.MinVersion != 0 {
		t.Errorf("%s: Produce range %+v, want min 0", what, p)
	}
	if f, ok := byKey[int16(kmsg.Fetch)]; !ok || f.MaxVersion != 15 {
		t.Errorf("%s: Fetch range %+v, want max 15", what, f)
	}
	if s, ok := byKey[int16(kmsg.SASLHandshake)]; ok && s.MinVersion < 1 {
		t.Errorf("%s: SaslHandshake min %d, want >= 1", what, s.MinVersion)
	}
	return byKey
}

func TestAPIVersions(t *testing.T) {
	t.Parallel()
	e := proxytest.New(t, proxytest.Options{})

	t.Run("clamped", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		for _, v := range []int16{0, 3, kmsgMax(18)} {
			resp := raw.roundTrip(apiVersionsRequest(v)).(*kmsg.ApiVersionsResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("ApiVersions v%d: %v", v, kerr.ErrorForCode(resp.ErrorCode))
			}
			byKey := checkAdvertised(t, fmt.Sprintf("ApiVersions v%d", v), resp.ApiKeys)
			if _, ok := byKey[int16(kmsg.SASLHandshake)]; !ok {
				t.Errorf("ApiVersions v%d: SaslHandshake not advertised", v)
			}
		}
	})

	t.Run("future and inter-broker keys stripped", func(t *testing.T) {
		e.Cluster.ControlKey(int16(kmsg.ApiVersions), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			resp := kreq.ResponseKind().(*kmsg.ApiVersionsResponse)
			kversion.Stable().EachMaxKeyVersion(func(k, v int16) {
				resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: v})
			})
			for i := range resp.ApiKeys {
				k := &resp.ApiKeys[i]
				switch k.ApiKey {
				case int16(kmsg.Produce):
					k.MinVersion, k.MaxVersion = 3, 99 // a broker newer than kmsg
				case int16(kmsg.Fetch):
					k.MinVersion, k.MaxVersion = 4, 18
				case int16(kmsg.SASLHandshake):
					k.MinVersion, k.MaxVersion = 0, 1
				}
			}
			for _, k := range []int16{999, 4, 52, 62} {
				resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: 3})
			}
			return resp, nil, true
		})
		raw := dialRaw(t, e.Bootstrap())
		resp := raw.roundTrip(apiVersionsRequest(3)).(*kmsg.ApiVersionsResponse)
		byKey := checkAdvertised(t, "injected ApiVersions", resp.ApiKeys)
		if _, ok := byKey[999]; ok {
			t.Errorf("fake ApiKey 999 was passed to the client")
		}
		// Produce v13 names topics by ID only; the policy needs names.
		if p := byKey[int16(kmsg.Produce)]; p.MaxVersion != 12 {
			t.Errorf("Produce max %d, want 12", p.MaxVersion)
		}
		if len(byKey) < 20 {
			t.Errorf("only %d keys survived, want the ordinary client keys kept", len(byKey))
		}
	})

	t.Run("v9 answered in v0", func(t *testing.T) {
		raw := dialRaw(t, e.Bootstrap())
		req := apiVersionsRequest(9)
		b, corr := raw.frame(req)
		// KIP-511: the body of a too-new version is not parsed, so
		// garbage after the header must not matter.
		b = append(b, 0xde, 0xad, 0xbe, 0xef)
		binary.BigEndian.PutUint32(b, uint32(len(b)-4))
		raw.write(b)
		resp := raw.read(corr).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != kerr.UnsupportedVersion.Code {
			t.Errorf("error %d, want UNSUPPORTED_VERSION (35)", resp.ErrorCode)
		}
		if k := resp.ApiKeys; len(k) != 1 || k[0].ApiKey != 18 || k[0].MinVersion != 0 || k[0].MaxVersion != kmsgMax(18) {
			t.Errorf("keys %+v, want only ApiVersions 0..%d", resp.ApiKeys, kmsgMax(18))
		}
		// The connection goes on at a supported version.
		if resp := raw.roundTrip(apiVersionsRequest(kmsgMax(18))).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
			t.Errorf("retry at v%d: error %d", kmsgMax(18), resp.ErrorCode)
		}
	})

	t.Run("kgo retries lower", func(t *testing.T) {
		before := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "ApiVersions")
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(18, 9)
		cl := e.Client(t, kgo.MaxVersions(vs))
		ctx := testCtx(t, 10*time.Second)
		if err := cl.Ping(ctx); err != nil {
			t.Fatalf("kgo asking ApiVersions v9 first could not connect: %v", err)
		}
		if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "ApiVersions"); got <= before {
			t.Errorf("no local ApiVersions answer: kgo never sent v9 through the proxy")
		}
	})
	e.AssertNoLeak(t)
}
