package enforce

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// policyDefaultRule is the rule of DefaultPolicy for every non-internal topic.
var policyDefaultRule = Rule{
	Pattern:   "defaults",
	Key:       PartRule{Mode: ModeOff, Strategy: StrategyTopic, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsReject},
	Value:     PartRule{Mode: ModeID, Strategy: StrategyTopic, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsReject},
	OnFailure: OnFailureReject,
}

// with returns policyDefaultRule changed by f.
func defaultsWith(f func(r *Rule)) Rule {
	r := policyDefaultRule
	f(&r)
	return r
}

func mustParsePolicy(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatalf("ParsePolicy: %v\n%s", err, doc)
	}
	return p
}

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	p := DefaultPolicy()
	if got := p.RejectScope(); got != ScopePartition {
		t.Errorf("RejectScope() = %q, want %q", got, ScopePartition)
	}
	if got := p.OnUnavailable(); got != UnavailableRetry {
		t.Errorf("OnUnavailable() = %q, want %q", got, UnavailableRetry)
	}
	internal := defaultsWith(func(r *Rule) { r.Pattern = "internal"; r.Value.Mode = ModeOff })
	for _, tc := range []struct {
		topic string
		want  Rule
	}{
		{"orders", policyDefaultRule},
		{"pay-eu", policyDefaultRule},
		{"_private", policyDefaultRule},
		{"_schemas_backup", policyDefaultRule},
		{"", policyDefaultRule},
		{"__consumer_offsets", internal},
		{"__transaction_state", internal},
		{"__cluster_metadata", internal},
		{"__share_group_state", internal},
		{"__anything", internal},
		{"_schemas", internal},
	} {
		if got := p.RuleFor(tc.topic); *got != tc.want {
			t.Errorf("RuleFor(%q) = %+v, want %+v", tc.topic, *got, tc.want)
		}
	}
}

// An empty mapping is the default policy.
func TestParsePolicyEmptyMapping(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"{}", "defaults: {}\n", "rules: []\n", "defaults:\n  value:\n  key: ~\n"} {
		p := mustParsePolicy(t, doc)
		if got := p.RuleFor("orders"); *got != policyDefaultRule {
			t.Errorf("%q: RuleFor(orders) = %+v, want %+v", doc, *got, policyDefaultRule)
		}
		if p.RejectScope() != ScopePartition || p.OnUnavailable() != UnavailableRetry {
			t.Errorf("%q: scope %q, unavailable %q; want partition, retry", doc, p.RejectScope(), p.OnUnavailable())
		}
	}
}

func TestParsePolicyTopLevelEnums(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc         string
		scope       Scope
		unavailable Unavailable
	}{
		{"reject_scope: partition", ScopePartition, UnavailableRetry},
		{"reject_scope: request", ScopeRequest, UnavailableRetry},
		{"registry_unavailable: retry", ScopePartition, UnavailableRetry},
		{"registry_unavailable: reject", ScopePartition, UnavailableReject},
		{"registry_unavailable: allow", ScopePartition, UnavailableAllow},
		{"reject_scope: request\nregistry_unavailable: allow", ScopeRequest, UnavailableAllow},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			t.Parallel()
			p := mustParsePolicy(t, tc.doc)
			if got := p.RejectScope(); got != tc.scope {
				t.Errorf("RejectScope() = %q, want %q", got, tc.scope)
			}
			if got := p.OnUnavailable(); got != tc.unavailable {
				t.Errorf("OnUnavailable() = %q, want %q", got, tc.unavailable)
			}
		})
	}
}

// Every value of every enum field, in defaults and in a rule, and the
// field-by-field merge of rule over defaults over built-in defaults.
func TestParsePolicyRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		doc   string
		topic string
		want  Rule
	}{
		{"value mode off", "defaults: {value: {mode: off}}", "t",
			defaultsWith(func(r *Rule) { r.Value.Mode = ModeOff })},
		{"value mode id", "defaults: {value: {mode: id}}", "t", policyDefaultRule},
		{"value mode payload", "defaults: {value: {mode: payload}}", "t",
			defaultsWith(func(r *Rule) { r.Value.Mode = ModePayload })},
		{"key mode id", "defaults: {key: {mode: id}}", "t",
			defaultsWith(func(r *Rule) { r.Key.Mode = ModeID })},
		{"key mode payload", "defaults: {key: {mode: payload}}", "t",
			defaultsWith(func(r *Rule) { r.Key.Mode = ModePayload })},
		{"strategy topic", "defaults: {value: {strategy: topic}}", "t", policyDefaultRule},
		{"strategy record", "defaults: {value: {strategy: record}}", "t",
			defaultsWith(func(r *Rule) { r.Value.Strategy = StrategyRecord })},
		{"strategy topic_record", "defaults: {key: {strategy: topic_record}}", "t",
			defaultsWith(func(r *Rule) { r.Key.Strategy = StrategyTopicRecord })},
		{"format confluent", "defaults: {value: {format: confluent}}", "t", policyDefaultRule},
		{"allow_null false", "defaults: {value: {allow_null: false}}", "t",
			defaultsWith(func(r *Rule) { r.Value.AllowNull = false })},
		{"allow_null True", "defaults: {key: {allow_null: True}}", "t", policyDefaultRule},
		{"on_failure log", "defaults: {on_failure: log}", "t",
			defaultsWith(func(r *Rule) { r.OnFailure = OnFailureLog })},
		{"on_failure reject", "defaults: {on_failure: reject}", "t", policyDefaultRule},
		{"unknown_fields allow", "defaults: {value: {mode: payload, unknown_fields: allow}}", "t",
			defaultsWith(func(r *Rule) { r.Value.Mode = ModePayload; r.Value.UnknownFields = UnknownFieldsAllow })},
		{"unknown_fields reject", "defaults: {key: {unknown_fields: reject}}", "t", policyDefaultRule},

		{"rule mode off", `rules: [{topics: [t], value: {mode: off}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Value.Mode = ModeOff })},
		{"rule mode payload", `rules: [{topics: [t], value: {mode: payload}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Value.Mode = ModePayload })},
		{"rule strategy record", `rules: [{topics: [t], value: {strategy: record}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Value.Strategy = StrategyRecord })},
		{"rule strategy topic_record", `rules: [{topics: [t], key: {mode: id, strategy: topic_record}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Key.Mode = ModeID; r.Key.Strategy = StrategyTopicRecord })},
		{"rule unknown_fields", `rules: [{topics: [t], key: {mode: payload, unknown_fields: allow}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Key.Mode = ModePayload; r.Key.UnknownFields = UnknownFieldsAllow })},
		{"rule allow_null", `rules: [{topics: [t], value: {allow_null: false}, key: {allow_null: false}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.Value.AllowNull = false; r.Key.AllowNull = false })},
		{"rule on_failure log", `rules: [{topics: [t], on_failure: log}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t"; r.OnFailure = OnFailureLog })},
		{"rule format", `rules: [{topics: [t], value: {format: confluent}}]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t" })},
		{"unmatched topic gets defaults", `rules: [{topics: [t], value: {mode: off}}]`, "u", policyDefaultRule},

		{"rule keeps defaults field by field", `
defaults:
  value: {mode: payload, allow_null: false}
  key: {mode: id, strategy: record}
  on_failure: log
rules:
  - topics: [t]
    value: {strategy: topic_record}
    key: {allow_null: false}
`, "t", Rule{
			Pattern:   "t",
			Key:       PartRule{Mode: ModeID, Strategy: StrategyRecord, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: false, UnknownFields: UnknownFieldsReject},
			Value:     PartRule{Mode: ModePayload, Strategy: StrategyTopicRecord, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: false, UnknownFields: UnknownFieldsReject},
			OnFailure: OnFailureLog,
		}},
		{"rule overrides every field", `
defaults:
  value: {mode: payload, strategy: record, allow_null: false}
  key: {mode: id, strategy: record, allow_null: false}
  on_failure: log
rules:
  - topics: [t]
    value: {mode: off, strategy: topic, format: confluent, allow_null: true, unknown_fields: allow}
    key: {mode: off, strategy: topic_record, format: confluent, allow_null: true, unknown_fields: reject}
    on_failure: reject
`, "t", Rule{
			Pattern:   "t",
			Key:       PartRule{Mode: ModeOff, Strategy: StrategyTopicRecord, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsReject},
			Value:     PartRule{Mode: ModeOff, Strategy: StrategyTopic, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsAllow},
			OnFailure: OnFailureReject,
		}},
		{"null fields are left out", `rules: [{topics: [t], value: {mode: ~}, key: null, on_failure: }]`, "t",
			defaultsWith(func(r *Rule) { r.Pattern = "t" })},
		{"defaults keep built-ins field by field", "defaults: {value: {strategy: record}}", "t",
			defaultsWith(func(r *Rule) { r.Value.Strategy = StrategyRecord })},
		{"numeric topic name", "rules: [{topics: [2024], value: {mode: off}}]", "2024",
			defaultsWith(func(r *Rule) { r.Pattern = "2024"; r.Value.Mode = ModeOff })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParsePolicy(t, tc.doc)
			if got := p.RuleFor(tc.topic); *got != tc.want {
				t.Errorf("RuleFor(%q) = %+v, want %+v", tc.topic, *got, tc.want)
			}
		})
	}
}

const ruleForPolicy = `
defaults:
  on_failure: log
rules:
  - topics: ["orders", "pay-*"]
    key: {mode: id}
  - topics: ["pay-eu-*", "audit.?"]
    value: {mode: payload}
  - topics: ["__consumer_offsets", "_schemas"]
    value: {mode: payload}
  - topics: ["*-raw", "[x-z]*"]
    value: {mode: off}
  - topics: ["billing"]
    value: {mode: off}
`

func TestRuleFor(t *testing.T) {
	t.Parallel()
	p := mustParsePolicy(t, ruleForPolicy)
	logged := defaultsWith(func(r *Rule) { r.OnFailure = OnFailureLog })
	rule0 := func(pattern string) Rule {
		r := logged
		r.Pattern = pattern
		r.Key.Mode = ModeID
		return r
	}
	withMode := func(pattern string, m Mode) Rule {
		r := logged
		r.Pattern = pattern
		r.Value.Mode = m
		return r
	}
	internal := logged
	internal.Pattern = "internal"
	internal.Value.Mode = ModeOff

	for _, tc := range []struct {
		topic string
		want  Rule
	}{
		{"orders", rule0("orders")},
		{"pay-us", rule0("pay-*")},
		{"pay-", rule0("pay-*")},
		{"pay-eu-1", rule0("pay-*")}, // first match wins over the later pay-eu-*
		{"audit.1", withMode("audit.?", ModePayload)},
		{"audit.12", logged},
		{"__consumer_offsets", withMode("__consumer_offsets", ModePayload)},
		{"_schemas", withMode("_schemas", ModePayload)},
		{"__transaction_state", internal},
		{"__x-raw", internal}, // globs never match internal topics
		{"orders-raw", withMode("*-raw", ModeOff)},
		{"xyz", withMode("[x-z]*", ModeOff)},
		{"billing", withMode("billing", ModeOff)},
		{"Orders", logged}, // names are case sensitive
		{"orders2", logged},
		{"", logged},
	} {
		// Twice: the second answer comes from the cache.
		for range 2 {
			if got := p.RuleFor(tc.topic); *got != tc.want {
				t.Errorf("RuleFor(%q) = %+v, want %+v", tc.topic, *got, tc.want)
			}
		}
	}
}

// The cache stays bounded and keeps answering correctly when it is full.
func TestRuleForCacheBound(t *testing.T) {
	t.Parallel()
	p := mustParsePolicy(t, ruleForPolicy)
	for i := range 3 * maxCachedTopics {
		topic := fmt.Sprintf("t%d-raw", i)
		if i%2 == 1 {
			topic = fmt.Sprintf("t%d", i)
		}
		want := "*-raw"
		if i%2 == 1 {
			want = "defaults"
		}
		if got := p.RuleFor(topic).Pattern; got != want {
			t.Fatalf("RuleFor(%q).Pattern = %q, want %q", topic, got, want)
		}
	}
	p.mu.RLock()
	n := len(p.cache)
	p.mu.RUnlock()
	if n > maxCachedTopics {
		t.Errorf("cache holds %d topics, want at most %d", n, maxCachedTopics)
	}
}

// RuleFor may be given a topic that aliases a buffer reused afterwards.
func TestRuleForTopicBufferReused(t *testing.T) {
	t.Parallel()
	p := mustParsePolicy(t, ruleForPolicy)
	buf := []byte("a-raw")
	if got := p.RuleFor(string(buf)).Pattern; got != "*-raw" {
		t.Fatalf("RuleFor(a-raw).Pattern = %q, want *-raw", got)
	}
	aliased := aliasBytes(buf)
	p.RuleFor(aliased) // cached under a copy, not under buf
	copy(buf, "plain")
	if got := p.RuleFor("a-raw").Pattern; got != "*-raw" {
		t.Errorf("after reuse of the buffer, RuleFor(a-raw).Pattern = %q, want *-raw", got)
	}
	if got := p.RuleFor("plain").Pattern; got != "defaults" {
		t.Errorf("after reuse of the buffer, RuleFor(plain).Pattern = %q, want defaults", got)
	}
}

func TestRuleForConcurrent(t *testing.T) {
	t.Parallel()
	p := mustParsePolicy(t, ruleForPolicy)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				topic := fmt.Sprintf("g%d-%d-raw", g, i%300)
				if got := p.RuleFor(topic).Pattern; got != "*-raw" {
					t.Errorf("RuleFor(%q).Pattern = %q, want *-raw", topic, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRuleForDoesNotAllocate(t *testing.T) {
	p := mustParsePolicy(t, ruleForPolicy)
	for _, topic := range []string{"orders", "pay-us", "audit.12", "__transaction_state", "orders-raw"} {
		p.RuleFor(topic)
		if n := testing.AllocsPerRun(100, func() { p.RuleFor(topic) }); n != 0 {
			t.Errorf("RuleFor(%q): %v allocations, want 0", topic, n)
		}
	}
}

func BenchmarkRuleFor(b *testing.B) {
	p, err := ParsePolicy([]byte(ruleForPolicy))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, topic string }{
		{"exact", "orders"},
		{"glob", "pay-eu-1"},
		{"defaults", "audit.12"},
		{"internal", "__consumer_offsets_x"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			p.RuleFor(bc.topic)
			for b.Loop() {
				p.RuleFor(bc.topic)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		p.RuleFor("pay-eu-1")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.RuleFor("pay-eu-1")
			}
		})
	})
}

func TestPolicyExampleFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/policy-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := mustParsePolicy(t, string(data))
	if p.RejectScope() != ScopePartition || p.OnUnavailable() != UnavailableRetry {
		t.Errorf("scope %q, unavailable %q; want partition, retry", p.RejectScope(), p.OnUnavailable())
	}
	for topic, want := range map[string]bool{"_schemas": true, "audit.logins": true, "orders": false} {
		if got := p.Protected(topic); got != want {
			t.Errorf("Protected(%q) = %v, want %v", topic, got, want)
		}
	}
	for _, tc := range []struct {
		topic string
		want  Rule
	}{
		{"orders", defaultsWith(func(r *Rule) { r.Pattern = "orders"; r.Key.Mode = ModeID; r.Value.AllowNull = false })},
		{"pay-eu", defaultsWith(func(r *Rule) { r.Pattern = "pay-*"; r.Value.Strategy = StrategyRecord })},
		{"payments", defaultsWith(func(r *Rule) { r.Pattern = "payments"; r.Value.Strategy = StrategyRecord })},
		{"audit.logins", defaultsWith(func(r *Rule) {
			r.Pattern = "audit.*"
			r.Value.Strategy = StrategyTopicRecord
			r.Value.WireFormat = WireFormatHeader
		})},
		{"billing.eu", defaultsWith(func(r *Rule) { r.Pattern = "billing.*"; r.Value.Mode = ModePayload })},
		{"legacy-crm", defaultsWith(func(r *Rule) { r.Pattern = "legacy-*"; r.OnFailure = OnFailureLog })},
		{"tmp-1", defaultsWith(func(r *Rule) { r.Pattern = "tmp-*"; r.Value.Mode = ModeOff })},
		{"scratch.7x", defaultsWith(func(r *Rule) { r.Pattern = "scratch.[0-9]*"; r.Value.Mode = ModeOff })},
		{"scratch.x", policyDefaultRule},
		{"inventory", policyDefaultRule},
		{"__consumer_offsets", defaultsWith(func(r *Rule) { r.Pattern = "internal"; r.Value.Mode = ModeOff })},
	} {
		if got := p.RuleFor(tc.topic); *got != tc.want {
			t.Errorf("RuleFor(%q) = %+v, want %+v", tc.topic, *got, tc.want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		doc  string
		want string // the whole message
	}{
		{"empty", "", "policy is empty (no YAML document); an empty file is refused so that a half-written one is never taken for the default policy: write {} for the defaults"},
		{"only comments", "# nothing\n", "policy is empty"},
		{"null document", "~\n", "policy is empty"},
		{"two documents", "{}\n---\n{}\n", "line 2: a second YAML document; a policy is one document"},
		{"syntax", "rules: [\n", "line 1: did not find expected node content"},
		{"tab indent", "defaults:\n\tvalue: {}\n", "line 2: found character that cannot start any token"},

		{"unknown top-level field", "defaults: {}\nreject-scope: request\n",
			`line 2: unknown field "reject-scope" in the policy; want defaults, reject_scope, registry_unavailable, protected_topics or rules (did you mean reject_scope?)`},
		{"unknown defaults field", "defaults:\n  values: {mode: id}\n",
			`line 2: unknown field "values" in defaults; want value, key or on_failure (did you mean value?)`},
		{"unknown part field", "defaults:\n  value:\n    mode: id\n    alow_null: true\n",
			`line 4: unknown field "alow_null" in a key or value section; want mode, strategy, format, wire_format, allow_null or unknown_fields (did you mean allow_null?)`},
		{"unknown rule field", "rules:\n  - topics: [a]\n    subject: a-value\n",
			`line 3: unknown field "subject" in a rule; want topics, value, key or on_failure`},
		{"two unknown fields", "rules:\n  - topics: [a]\n    valu: {}\n    kye: {}\n",
			`line 3: unknown field "valu" in a rule; want topics, value, key or on_failure (did you mean value?); line 4: unknown field "kye" in a rule; want topics, value, key or on_failure (did you mean key?)`},
		{"field twice", "reject_scope: request\nreject_scope: partition\n",
			`line 2: mapping key "reject_scope" already defined at line 1`},
		{"defaults not a mapping", "defaults: off\n",
			`line 1: defaults: want a mapping of value, key and on_failure, got "off"`},
		{"part not a mapping", "defaults:\n  value: off\n",
			`line 2: a key or value section: want a mapping like {mode: off}, got "off"`},
		{"rules not a list", "rules: {topics: [a]}\n",
			`line 1: rules: want a list of rules, got a mapping`},
		{"document not a mapping", "- a\n",
			`line 1: the policy: want a mapping of defaults, reject_scope, registry_unavailable, protected_topics and rules, got a list`},

		{"reject_scope", "reject_scope: all\n", `line 1: reject_scope "all": want partition or request`},
		{"registry_unavailable", "registry_unavailable: fail\n",
			`line 1: registry_unavailable "fail": want retry, reject or allow`},
		{"registry_unavailable case", "registry_unavailable: Allow\n",
			`line 1: registry_unavailable "Allow": want retry, reject or allow (did you mean allow?)`},
		{"defaults value.mode", "defaults:\n  value: {mode: strict}\n",
			`line 2: defaults: value.mode "strict": want off, id or payload`},
		{"defaults key.mode bool", "defaults:\n  key: {mode: false}\n",
			`line 2: defaults: key.mode "false": want off, id or payload`},
		{"defaults on_failure", "defaults:\n  on_failure: drop\n",
			`line 2: defaults: on_failure "drop": want reject or log`},
		{"rule value.mode", "rules:\n  - topics: [orders]\n  - topics: [\"pay-*\"]\n    value: {mode: strict}\n",
			`line 4: rules[1] (pattern "pay-*"): value.mode "strict": want off, id or payload`},
		{"rule key.mode list", "rules:\n  - topics: [a]\n    key: {mode: [id]}\n",
			`line 3: rules[0] (pattern "a"): key.mode (a list): want off, id or payload`},
		{"rule strategy", "rules:\n  - topics: [a, b]\n    value: {strategy: subject}\n",
			`line 3: rules[0] (patterns "a", "b"): value.strategy "subject": want topic, record or topic_record`},
		{"rule strategy class name", "rules:\n  - topics: [a]\n    value: {strategy: io.confluent.kafka.serializers.subject.TopicRecordNameStrategy}\n",
			`line 3: rules[0] (pattern "a"): value.strategy "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy": want topic, record or topic_record (did you mean topic_record?)`},
		{"rule strategy dash", "rules:\n  - topics: [a]\n    key: {strategy: topic-record}\n",
			`line 3: rules[0] (pattern "a"): key.strategy "topic-record": want topic, record or topic_record (did you mean topic_record?)`},
		{"rule format", "rules:\n  - topics: [a, b, c, d]\n    value: {format: apicurio}\n",
			`line 3: rules[0] (patterns "a", "b", "c", ...): value.format "apicurio": want confluent`},
		{"rule allow_null", "rules:\n  - topics: [a]\n    value: {allow_null: yes}\n",
			`line 3: rules[0] (pattern "a"): value.allow_null "yes": want true or false`},
		{"rule allow_null quoted", "rules:\n  - topics: [a]\n    key: {allow_null: \"true\"}\n",
			`line 3: rules[0] (pattern "a"): key.allow_null "true": want true or false`},
		{"rule on_failure", "rules:\n  - topics: [a]\n    on_failure: warn\n",
			`line 3: rules[0] (pattern "a"): on_failure "warn": want reject or log`},

		{"topics missing", "rules:\n  - topics: [a]\n  - value: {mode: off}\n",
			`line 3: rules[1]: topics is missing; want a list of topic names or globs, like ["orders", "pay-*"]`},
		{"topics null", "rules:\n  - topics:\n",
			`line 2: rules[0]: topics is missing; want a list of topic names or globs, like ["orders", "pay-*"]`},
		{"topics empty", "rules:\n  - topics: []\n",
			`line 2: rules[0]: topics is empty; want at least one topic name or glob`},
		{"topics a string", "rules:\n  - topics: orders\n",
			`line 2: rules[0]: topics "orders": want a list, like ["orders"]`},
		{"topics a mapping", "rules:\n  - topics: {orders: true}\n",
			`line 2: rules[0]: topics: want a list of topic names or globs`},
		{"topic null", "rules:\n  - topics: [a, ~]\n",
			`line 2: rules[0] (patterns "a", ""): topics[1] is null; want a topic name or glob`},
		{"topic a list", "rules:\n  - topics: [[a]]\n",
			`line 2: rules[0] (pattern ""): topics[0]: want a topic name or glob, not a list or mapping`},
		{"topic empty", "rules:\n  - topics: [\"\"]\n",
			`line 2: rules[0] (pattern ""): topics[0] "": empty; want a topic name or glob`},
		{"bad glob", "rules:\n  - topics: [orders]\n  - topics: [\"pay-[\"]\n",
			`line 3: rules[1] (pattern "pay-["): topics[0] "pay-[": not a valid glob: want path.Match syntax (*, ?, [a-z], [^a-z], \ escapes)`},
		{"bad glob escape", "rules:\n  - topics: [\"a\\\\\"]\n",
			`line 2: rules[0] (pattern "a\\"): topics[0] "a\\": not a valid glob: want path.Match syntax (*, ?, [a-z], [^a-z], \ escapes)`},
		{"internal glob", "rules:\n  - topics: [\"__*\"]\n",
			`line 2: rules[0] (pattern "__*"): topics[0] "__*": globs never match internal topics (names starting with "__", and _schemas): name each one exactly`},
		{"comma in name", "rules:\n  - topics: [\"orders, payments\"]\n",
			`line 2: rules[0] (pattern "orders, payments"): topics[0] "orders, payments": has ','; Kafka topic names have only letters, digits, '.', '_' and '-': write one list item per topic`},
		{"slash in glob", "rules:\n  - topics: [\"a/*\"]\n",
			`line 2: rules[0] (pattern "a/*"): topics[0] "a/*": has '/'; Kafka topic names have only letters, digits, '.', '_' and '-'`},
		{"dot", "rules:\n  - topics: [\"..\"]\n",
			`line 2: rules[0] (pattern ".."): topics[0] "..": not a legal Kafka topic name`},
		{"too long", "rules:\n  - topics: [" + strings.Repeat("a", 250) + "]\n",
			`topics[0] "` + strings.Repeat("a", 250) + `": 250 characters; Kafka topic names have at most 249`},
		{"listed twice", "rules:\n  - topics: [a, b, a]\n",
			`line 2: rules[0] (patterns "a", "b", "a"): topics[2] "a" is listed twice`},
		{"named by an earlier rule", "rules:\n  - topics: [a]\n  - topics: [b,\n      a]\n",
			`line 4: rules[1] (patterns "b", "a"): topics[1] "a" can never match: rules[0] names it first`},
		{"shadowed by an earlier glob", "rules:\n  - topics: [\"pay-*\"]\n  - topics: [pay-eu]\n",
			`line 3: rules[1] (pattern "pay-eu"): topics[0] "pay-eu" can never match: rules[0] (pattern "pay-*") matches it first; move it to an earlier rule`},
		{"internal named twice", "rules:\n  - topics: [_schemas]\n  - topics: [_schemas]\n",
			`line 3: rules[1] (pattern "_schemas"): topics[0] "_schemas" can never match: rules[0] names it first`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy([]byte(tc.doc))
			if err == nil {
				t.Fatalf("ParsePolicy succeeded, want error %q", tc.want)
			}
			if p != nil {
				t.Errorf("ParsePolicy returned a policy with error %v", err)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// Documents that look like mistakes but are not.
func TestParsePolicyAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, topic, pattern string
	}{
		// An exact name in the same rule as a glob that matches it is harmless.
		{"exact after glob in one rule", `rules: [{topics: ["pay-*", pay-eu]}]`, "pay-eu", "pay-eu"},
		// A glob after an exact name does not hide it.
		{"glob after exact", `rules: [{topics: [a]}, {topics: ["*"]}]`, "a", "a"},
		{"internal exact after glob", `rules: [{topics: ["*"]}, {topics: [__consumer_offsets]}]`,
			"__consumer_offsets", "__consumer_offsets"},
		{"escaped glob", `rules: [{topics: ["a\\*"]}]`, "a*", `a\*`},
		{"negated class", `rules: [{topics: ["[^a]*"]}]`, "b", "[^a]*"},
		{"max length", "rules: [{topics: [" + strings.Repeat("a", 249) + "]}]", strings.Repeat("a", 249), strings.Repeat("a", 249)},
		{"mode payload", `rules: [{topics: [a], value: {mode: payload}, key: {mode: payload}}]`, "a", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParsePolicy(t, tc.doc)
			if got := p.RuleFor(tc.topic).Pattern; got != tc.pattern {
				t.Errorf("RuleFor(%q).Pattern = %q, want %q", tc.topic, got, tc.pattern)
			}
		})
	}
}

func aliasBytes(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func TestParsePolicyProtectedTopics(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		doc       string
		protected []string
		open      []string
		has       bool
	}{
		{"default", "{}", []string{"_schemas"}, []string{"orders", "_schemas_backup", "__consumer_offsets", "audit.x"}, true},
		{"none", "protected_topics: []", nil, []string{"_schemas", "orders"}, false},
		{"names and globs", `protected_topics: ["_schemas", "audit.*", "__*"]`,
			[]string{"_schemas", "audit.logins", "__consumer_offsets"}, []string{"audit", "orders"}, true},
		{"without _schemas", `protected_topics: [orders]`, []string{"orders"}, []string{"_schemas"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := mustParsePolicy(t, tc.doc)
			for _, topic := range tc.protected {
				if !p.Protected(topic) {
					t.Errorf("Protected(%q) = false, want true", topic)
				}
			}
			for _, topic := range tc.open {
				if p.Protected(topic) {
					t.Errorf("Protected(%q) = true, want false", topic)
				}
			}
			if got := p.HasProtected(); got != tc.has {
				t.Errorf("HasProtected() = %v, want %v", got, tc.has)
			}
		})
	}
	if !DefaultPolicy().Protected("_schemas") || DefaultPolicy().Protected("orders") {
		t.Errorf("DefaultPolicy protects %v/%v for _schemas/orders, want true/false",
			DefaultPolicy().Protected("_schemas"), DefaultPolicy().Protected("orders"))
	}
}

func TestParsePolicyNewFieldErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"protected null", "reject_scope: partition\nprotected_topics:\n",
			"line 2: protected_topics is null; want a list of topic names or globs, or [] to protect none"},
		{"protected scalar", "protected_topics: _schemas\n",
			`line 1: protected_topics "_schemas": want a list, like ["_schemas"]`},
		{"protected mapping", "protected_topics: {a: b}\n",
			"line 1: protected_topics: want a list of topic names or globs"},
		{"protected null item", "protected_topics:\n  - _schemas\n  - ~\n",
			"line 3: protected_topics[1] is null; want a topic name or glob"},
		{"protected bad name", "protected_topics:\n  - _schemas\n  - \"a b\"\n",
			`line 3: protected_topics[1] "a b": has ' '; Kafka topic names have only letters, digits, '.', '_' and '-': write one list item per topic`},
		{"protected bad glob", "protected_topics: [\"a[\"]\n",
			`line 1: protected_topics[0] "a[": not a valid glob`},
		{"protected twice", "protected_topics:\n  - a\n  - a\n",
			`line 3: protected_topics[1] "a" is listed twice`},
		{"wire_format unknown", "rules:\n  - topics: [a]\n    value: {wire_format: headers}\n",
			`line 3: rules[0] (pattern "a"): value.wire_format "headers": want any, prefix or header (did you mean header?)`},
		{"wire_format in defaults", "defaults:\n  key:\n    wire_format: [prefix]\n",
			`line 3: defaults: key.wire_format (a list): want any, prefix or header`},
		{"wire_format misspelt", "defaults:\n  value: {wireformat: prefix}\n",
			`line 2: unknown field "wireformat" in a key or value section; want mode, strategy, format, wire_format, allow_null or unknown_fields (did you mean wire_format?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePolicy([]byte(tc.doc))
			if err == nil {
				t.Fatalf("ParsePolicy succeeded, want error %q", tc.want)
			}
			if p != nil {
				t.Errorf("ParsePolicy returned a policy with error %v", err)
			}
			if got := err.Error(); !strings.Contains(got, tc.want) {
				t.Errorf("error\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestParsePolicyWireFormat(t *testing.T) {
	t.Parallel()
	p := mustParsePolicy(t, `
defaults:
  value: {wire_format: header}
rules:
  - topics: [a]
    value: {wire_format: prefix}
    key: {mode: id}
  - topics: [b]
`)
	for _, tc := range []struct {
		topic      string
		value, key WireFormat
	}{
		{"a", WireFormatPrefix, WireFormatAny},
		{"b", WireFormatHeader, WireFormatAny},
		{"other", WireFormatHeader, WireFormatAny},
	} {
		r := p.RuleFor(tc.topic)
		if r.Value.WireFormat != tc.value || r.Key.WireFormat != tc.key {
			t.Errorf("RuleFor(%q): value %q key %q, want %q %q", tc.topic, r.Value.WireFormat, r.Key.WireFormat, tc.value, tc.key)
		}
	}
}
