package proxy_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

// sixParts is a 3-topic x 2-partition request body: each partition holds
// one batch of two records tagged "<topic>/<partition>-<n>", and the
// second record of each partition named in bad has an unregistered
// schema id instead.
func sixParts(prefix string, id int, bad ...string) []part {
	var parts []part
	for _, tp := range []string{"a", "b", "c"} {
		topic := prefix + tp
		for p := range int32(2) {
			name := fmt.Sprintf("%s/%d", topic, p)
			second := id
			for _, b := range bad {
				if b == name {
					second = id + 1000
				}
			}
			parts = append(parts, part{topic, p, valueBatch(framed(id, name+"-0"), framed(second, name+"-1"))})
		}
	}
	return parts
}

func registerSix(t *testing.T, reg *enforcetest.Registry, prefix string) int {
	var id int
	for _, tp := range []string{"a", "b", "c"} {
		id = reg.Avro(t, prefix+tp+"-value", orderAvro).ID
	}
	return id
}

// A request with one invalid partition among six forwards the other five,
// which land, and the answer lists each of the six exactly once, the
// rejected one merged into its topic's entry from the broker (PR-05). A
// request with only invalid partitions is answered by the proxy alone,
// again with all six.
func TestEnforcePartialRequest(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	var prefixes []string
	var topics []string
	for _, v := range []int16{3, 7, 8, 9, 12} {
		for _, kind := range []string{"part", "none"} {
			pre := fmt.Sprintf("%s%d-", kind, v)
			prefixes = append(prefixes, pre)
			topics = append(topics, pre+"a", pre+"b", pre+"c")
		}
	}
	var id int
	for _, pre := range prefixes {
		id = registerSix(t, reg, pre)
	}
	// One broker leads every partition, so one request can carry all six.
	e := enforced(t, reg, "", kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))

	for _, v := range []int16{3, 7, 8, 9, 12} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			raw := leaderRaw(t, e, "part3-a")

			pre := fmt.Sprintf("part%d-", v)
			bad := pre + "b/1"
			resp := raw.roundTrip(rawProduce(v, -1, sixParts(pre, id, bad)...))
			if n := entries(resp); n != 6 {
				t.Errorf("response has %d partition entries, want 6", n)
			}
			got := produced(t, resp)
			for _, tp := range []string{"a", "b", "c"} {
				topic := pre + tp
				for p := range int32(2) {
					name := fmt.Sprintf("%s/%d", topic, p)
					rp, ok := got[topic][p]
					switch {
					case !ok:
						t.Errorf("%s missing from the response", name)
					case name == bad:
						wantRejected(t, v, rp, []int32{1}, name[:len(name)-2]+"[1]", "record 1", "unknown_schema_id")
						wantLanded(t, e, topic, p)
					default:
						if rp.ErrorCode != 0 || rp.BaseOffset != 0 {
							t.Errorf("%s: error %v, base offset %d, want success at 0", name, kerr.ErrorForCode(rp.ErrorCode), rp.BaseOffset)
						}
						wantLanded(t, e, topic, p, name+"-0", name+"-1")
					}
				}
			}

			pre = fmt.Sprintf("none%d-", v)
			local := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "Produce")
			all := []string{pre + "a/0", pre + "a/1", pre + "b/0", pre + "b/1", pre + "c/0", pre + "c/1"}
			resp = raw.roundTrip(rawProduce(v, -1, sixParts(pre, id, all...)...))
			if n := entries(resp); n != 6 {
				t.Errorf("all-invalid: response has %d partition entries, want 6", n)
			}
			for topic, ps := range produced(t, resp) {
				for p, rp := range ps {
					wantRejected(t, v, rp, []int32{1}, fmt.Sprintf("%s[%d]", topic, p), "unknown_schema_id")
					wantLanded(t, e, topic, p)
				}
			}
			if got := metricSum(t, e.Metrics, "schemaproxy_local_responses_total", "api", "Produce"); got <= local {
				t.Errorf("local_responses_total{api=Produce} = %v, was %v: the all-invalid request was not answered locally", got, local)
			}
		})
	}
}

// With reject_scope: request, one invalid partition fails all six and
// nothing lands (PR-05, kx's choice).
func TestEnforceRequestScope(t *testing.T) {
	t.Parallel()
	reg := enforcetest.NewRegistry(t)
	id := registerSix(t, reg, "rs-")
	e := proxytest.New(t, proxytest.Options{
		Kfake:    []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "rs-a", "rs-b", "rs-c")},
		Registry: reg,
		Policy:   "reject_scope: request\n",
	})
	raw := leaderRaw(t, e, "rs-a")
	for _, v := range []int16{7, 9} {
		resp := raw.roundTrip(rawProduce(v, -1, sixParts("rs-", id, "rs-c/0")...))
		if n := entries(resp); n != 6 {
			t.Errorf("v%d: response has %d partition entries, want 6", v, n)
		}
		for topic, ps := range produced(t, resp) {
			for p, rp := range ps {
				name := fmt.Sprintf("%s[%d]", topic, p)
				if name == "rs-c[0]" {
					wantRejected(t, v, rp, []int32{1}, name, "unknown_schema_id")
					continue
				}
				// The message sits in this partition's entry; it names the
				// partition that caused the rejection.
				wantRejected(t, v, rp, nil, "rejected with its request", "rs-c[0]", "unknown_schema_id")
			}
		}
	}
	for _, topic := range []string{"rs-a", "rs-b", "rs-c"} {
		for p := range int32(2) {
			wantLanded(t, e, topic, p)
		}
	}
}
