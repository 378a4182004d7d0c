package proxy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/schemaproxy/schemaproxy/enforce/enforcetest"
	"github.com/schemaproxy/schemaproxy/proxy/proxytest"
)

const codeTopicAuthFailed = 29

// protectedEnv is a one-broker cluster (its controller, so admin requests
// need no routing) holding topics, each with two partitions, behind a
// proxy enforcing policy.
func protectedEnv(t *testing.T, policy string, topics ...string) (*proxytest.Env, *rawClient, int) {
	t.Helper()
	reg := enforcetest.NewRegistry(t)
	id := reg.Avro(t, "orders-value", orderAvro).ID
	e := enforced(t, reg, policy, kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	return e, dialRaw(t, e.Proxy.NodeAddr(0)), id
}

// topicState returns each topic's partition count, and its
// cleanup.policy, as the cluster (not the proxy) reports them.
func topicState(t *testing.T, e *proxytest.Env, topics ...string) (map[string]int, map[string]string) {
	t.Helper()
	ctx := testCtx(t, 15e9)
	adm := kadm.NewClient(directClient(t, e))
	parts := map[string]int{}
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	for _, d := range td {
		if d.Err == nil {
			parts[d.Topic] = len(d.Partitions)
		}
	}
	cfgs := map[string]string{}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err == nil {
		for _, rc := range rcs {
			for _, c := range rc.Configs {
				if c.Key == "cleanup.policy" && c.Value != nil {
					cfgs[rc.Name] = *c.Value
				}
			}
		}
	}
	return parts, cfgs
}

// A Produce naming _schemas and another topic: _schemas is refused with
// TOPIC_AUTHORIZATION_FAILED and nothing lands there, while the other
// topic's partition lands; each partition appears once in the answer.
func TestProtectedProduce(t *testing.T) {
	t.Parallel()
	e, raw, id := protectedEnv(t, "", "_schemas", "orders")
	forged := valueBatch([]byte(`{"subject":"orders-value","version":2,"id":99,"schema":"\"string\""}`))
	for _, v := range []int16{3, 8, 12} {
		tag := fmt.Sprintf("v%d", v)
		resp := raw.roundTrip(rawProduce(v, -1,
			part{"_schemas", 0, forged}, part{"orders", 0, valueBatch(framed(id, tag))}, part{"_schemas", 1, forged}))
		if n := entries(resp); n != 3 {
			t.Errorf("v%d: response has %d partition entries, want 3", v, n)
		}
		got := produced(t, resp)
		for _, p := range []int32{0, 1} {
			rp := got["_schemas"][p]
			if rp.ErrorCode != codeTopicAuthFailed {
				t.Errorf("v%d: _schemas/%d error %d, want %d", v, p, rp.ErrorCode, codeTopicAuthFailed)
			}
			if v >= 8 && (rp.ErrorMessage == nil || !strings.Contains(*rp.ErrorMessage, "protected")) {
				t.Errorf("v%d: _schemas/%d error message %v, want one saying it is protected", v, p, rp.ErrorMessage)
			}
		}
		if rp := got["orders"][0]; rp.ErrorCode != 0 {
			t.Errorf("v%d: orders/0 error %d, want 0", v, rp.ErrorCode)
		}
	}
	wantLanded(t, e, "orders", 0, "v3", "v8", "v12")
	wantLanded(t, e, "_schemas", 0)
	wantLanded(t, e, "_schemas", 1)

	// acks=0: what passes is forwarded, then the connection is closed.
	raw0 := dialRaw(t, e.Proxy.NodeAddr(0))
	raw0.send(rawProduce(12, 0, part{"orders", 1, valueBatch(framed(id, "acks0"))}, part{"_schemas", 0, forged}))
	expectClosed(t, raw0.c)
	wantLanded(t, e, "orders", 1, "acks0")
	wantLanded(t, e, "_schemas", 0)
}

// protectedAdmin runs every admin request the protection covers on
// _schemas, a protected glob's topic and an open topic, and checks the
// answers and what the cluster then holds.
func TestProtectedAdmin(t *testing.T) {
	t.Parallel()
	policy := `protected_topics: ["_schemas", "audit.*"]`
	e, raw, _ := protectedEnv(t, policy, "_schemas", "audit.log", "open-del", "open-del6", "open-delid", "open-grow", "open-cfg", "open-icfg", "open-rec")

	// DeleteTopics v5, by name.
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version, dt.TimeoutMillis, dt.TopicNames = 5, 5000, []string{"_schemas", "open-del", "audit.log"}
	codes := map[string]int16{}
	for _, rt := range raw.roundTrip(dt).(*kmsg.DeleteTopicsResponse).Topics {
		codes[*rt.Topic] = rt.ErrorCode
	}
	wantCodes(t, "DeleteTopics v5", codes, map[string]int16{"_schemas": codeTopicAuthFailed, "audit.log": codeTopicAuthFailed, "open-del": 0})

	// DeleteTopics v6: by name, and by ID once a Metadata response named it.
	md := raw.roundTrip(metadataRequest(12, "_schemas", "open-delid")).(*kmsg.MetadataResponse)
	ids := map[string][16]byte{}
	for _, mt := range md.Topics {
		ids[*mt.Topic] = mt.TopicID
	}
	dt = kmsg.NewPtrDeleteTopicsRequest()
	dt.Version, dt.TimeoutMillis = 6, 5000
	for _, name := range []string{"_schemas", "open-del6"} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		dt.Topics = append(dt.Topics, rt)
	}
	for _, id := range [][16]byte{ids["_schemas"], ids["open-delid"], {1, 2, 3}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		dt.Topics = append(dt.Topics, rt)
	}
	// Entries by name, or "id:" and the name behind the ID ("id:?" unknown).
	names := map[[16]byte]string{}
	for name, id := range ids {
		names[id] = name
	}
	codes = map[string]int16{}
	for _, rt := range raw.roundTrip(dt).(*kmsg.DeleteTopicsResponse).Topics {
		key := "id:?"
		switch n, ok := names[rt.TopicID]; {
		case rt.Topic != nil:
			key = *rt.Topic
		case ok:
			key = "id:" + n
		}
		if _, dup := codes[key]; dup {
			t.Errorf("DeleteTopics v6: %s answered twice", key)
		}
		codes[key] = rt.ErrorCode
	}
	wantCodes(t, "DeleteTopics v6", codes, map[string]int16{"_schemas": codeTopicAuthFailed, "open-del6": 0,
		"id:_schemas": codeTopicAuthFailed, "open-delid": 0, "id:?": codeTopicAuthFailed})

	// CreatePartitions.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 3, 5000
	for _, name := range []string{"_schemas", "open-grow"} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, 4
		cp.Topics = append(cp.Topics, rt)
	}
	codes = map[string]int16{}
	for _, rt := range raw.roundTrip(cp).(*kmsg.CreatePartitionsResponse).Topics {
		codes[rt.Topic] = rt.ErrorCode
	}
	wantCodes(t, "CreatePartitions", codes, map[string]int16{"_schemas": codeTopicAuthFailed, "open-grow": 0})

	// IncrementalAlterConfigs and AlterConfigs, TOPIC resources.
	iac := kmsg.NewPtrIncrementalAlterConfigsRequest()
	iac.Version = 1
	for _, name := range []string{"_schemas", "open-icfg"} {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
		rr.Configs = append(rr.Configs, c)
		iac.Resources = append(iac.Resources, rr)
	}
	codes = map[string]int16{}
	for _, rr := range raw.roundTrip(iac).(*kmsg.IncrementalAlterConfigsResponse).Resources {
		codes[rr.ResourceName] = rr.ErrorCode
		if rr.ResourceName == "_schemas" && (rr.ErrorMessage == nil || !strings.Contains(*rr.ErrorMessage, "protected")) {
			t.Errorf("IncrementalAlterConfigs: _schemas message %v, want one saying it is protected", rr.ErrorMessage)
		}
	}
	wantCodes(t, "IncrementalAlterConfigs", codes, map[string]int16{"_schemas": codeTopicAuthFailed, "open-icfg": 0})

	ac := kmsg.NewPtrAlterConfigsRequest()
	ac.Version = 1
	for _, name := range []string{"_schemas", "open-cfg"} {
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, name
		c := kmsg.NewAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
		rr.Configs = append(rr.Configs, c)
		ac.Resources = append(ac.Resources, rr)
	}
	codes = map[string]int16{}
	for _, rr := range raw.roundTrip(ac).(*kmsg.AlterConfigsResponse).Resources {
		codes[rr.ResourceName] = rr.ErrorCode
	}
	wantCodes(t, "AlterConfigs", codes, map[string]int16{"_schemas": codeTopicAuthFailed, "open-cfg": 0})

	// DeleteRecords: every partition of _schemas refused, open-rec's done.
	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Version, dr.TimeoutMillis = 2, 5000
	for _, name := range []string{"_schemas", "open-rec"} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		for p := range int32(2) {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		dr.Topics = append(dr.Topics, rt)
	}
	codes = map[string]int16{}
	for _, rt := range raw.roundTrip(dr).(*kmsg.DeleteRecordsResponse).Topics {
		for _, rp := range rt.Partitions {
			codes[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = rp.ErrorCode
		}
	}
	wantCodes(t, "DeleteRecords", codes, map[string]int16{"_schemas/0": codeTopicAuthFailed, "_schemas/1": codeTopicAuthFailed, "open-rec/0": 0, "open-rec/1": 0})

	// Only protected entries: answered by the proxy alone.
	cp = kmsg.NewPtrCreatePartitionsRequest()
	cp.Version, cp.TimeoutMillis = 0, 5000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "audit.log", 5
	cp.Topics = append(cp.Topics, rt)
	if got := raw.roundTrip(cp).(*kmsg.CreatePartitionsResponse).Topics; len(got) != 1 || got[0].Topic != "audit.log" || got[0].ErrorCode != codeTopicAuthFailed {
		t.Errorf("CreatePartitions of audit.log alone: got %+v, want one entry with error %d", got, codeTopicAuthFailed)
	}

	parts, cfgs := topicState(t, e, "_schemas", "audit.log", "open-del", "open-del6", "open-delid", "open-grow", "open-cfg", "open-icfg")
	wantParts := map[string]int{"_schemas": 2, "audit.log": 2, "open-grow": 4, "open-cfg": 2, "open-icfg": 2}
	for topic, n := range wantParts {
		if parts[topic] != n {
			t.Errorf("%s has %d partitions, want %d", topic, parts[topic], n)
		}
	}
	for _, gone := range []string{"open-del", "open-del6", "open-delid"} {
		if _, ok := parts[gone]; ok {
			t.Errorf("%s still exists, want it deleted", gone)
		}
	}
	for topic, want := range map[string]string{"open-cfg": "compact", "open-icfg": "compact"} {
		if cfgs[topic] != want {
			t.Errorf("%s cleanup.policy %q, want %q", topic, cfgs[topic], want)
		}
	}
	if cfgs["_schemas"] == "compact" {
		t.Errorf("_schemas cleanup.policy changed to compact through the proxy")
	}
}

func wantCodes(t *testing.T, what string, got, want map[string]int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: answered %v, want %v", what, got, want)
		return
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: %s error %d (answered %v), want %d", what, k, g, ok, w)
		}
	}
}

// protected_topics: [] opts out: _schemas takes produces and deletes
// through a proxy with a registry, as through a proxy without one.
func TestProtectedOptOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy string
		registry     bool
	}{
		{"protected_topics empty", "protected_topics: []", true},
		{"no registry", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var e *proxytest.Env
			if tc.registry {
				e, _, _ = protectedEnv(t, tc.policy, "_schemas")
			} else {
				e = proxytest.New(t, proxytest.Options{Kfake: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "_schemas")}})
			}
			raw := dialRaw(t, e.Proxy.NodeAddr(0))
			resp := raw.roundTrip(rawProduce(12, -1, part{"_schemas", 0, valueBatch([]byte("registry record"))}))
			if rp := onlyPartition(t, resp); rp.ErrorCode != 0 {
				t.Errorf("produce to _schemas: error %d, want 0", rp.ErrorCode)
			}
			wantLanded(t, e, "_schemas", 0, "registry record")
			dt := kmsg.NewPtrDeleteTopicsRequest()
			dt.Version, dt.TimeoutMillis, dt.TopicNames = 5, 5000, []string{"_schemas"}
			if got := raw.roundTrip(dt).(*kmsg.DeleteTopicsResponse).Topics; len(got) != 1 || got[0].ErrorCode != 0 {
				t.Errorf("DeleteTopics _schemas: got %+v, want one entry with error 0", got)
			}
		})
	}
}
