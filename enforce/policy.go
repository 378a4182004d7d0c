package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Policy is a compiled topic policy: which rule applies to each topic, and
// what to do with whole requests and registry outages. Build one with
// ParsePolicy or DefaultPolicy; the zero Policy is not usable.
//
// A Policy never changes after it is built (PolicyStore swaps whole
// policies) and is safe for concurrent use.
type Policy struct {
	rejectScope Scope
	unavailable Unavailable
	defaults    Rule // for topics no rule names
	internal    Rule // for internal topics no rule names exactly
	rules       int  // number of rules in the document

	// Protected topics: exact names and globs (protected_topics).
	protectedExact map[string]bool
	protectedGlobs []string

	exact map[string]*Rule // exact patterns; validated unshadowed by earlier globs
	globs []globRule       // glob patterns, in document order

	// cache memoises glob matching per topic name; it holds at most
	// maxCachedTopics entries and is emptied when full. Only used when
	// there are globs. Its keys are copies, never the caller's string.
	mu    sync.RWMutex
	cache map[string]*Rule
}

type globRule struct {
	pattern string
	rule    *Rule
	index   int // the rule's index in the document
}

// maxCachedTopics bounds the per-Policy cache of glob matches. Clusters
// with more topics than this that match globs still work, with a
// path.Match per glob on cache misses.
const maxCachedTopics = 4096

// Pattern values of rules that no rule of the document supplied.
const (
	patternDefaults = "defaults"
	patternInternal = "internal"
)

// DefaultPolicy returns the policy used when there is no policy file: every
// topic except internal ones must carry, in its value, a Confluent
// wire-format schema ID registered under <topic>-value; null values pass;
// keys are not checked; failing partitions are rejected on their own; a
// registry outage makes producers retry.
func DefaultPolicy() *Policy {
	d := builtinDefaults()
	return &Policy{
		rejectScope:    ScopePartition,
		unavailable:    UnavailableRetry,
		defaults:       d,
		internal:       internalRule(d),
		protectedExact: defaultProtected(),
	}
}

// defaultProtected is protected_topics when the document leaves it out:
// the schema registry's storage topic, whose records are the registry's
// schemas, so that no client can register a schema behind its back.
func defaultProtected() map[string]bool { return map[string]bool{"_schemas": true} }

// Protected reports whether topic is one of protected_topics (default
// ["_schemas"]): the proxy refuses to let clients produce to it, delete
// it or its records, add partitions to it or change its configuration.
// Globs match any name, internal ones included. It does not keep topic.
func (p *Policy) Protected(topic string) bool {
	if p.protectedExact[topic] {
		return true
	}
	for _, g := range p.protectedGlobs {
		if ok, _ := path.Match(g, topic); ok {
			return true
		}
	}
	return false
}

// HasProtected reports whether any topic is protected; false only for
// protected_topics: [].
func (p *Policy) HasProtected() bool {
	return len(p.protectedExact) > 0 || len(p.protectedGlobs) > 0
}

func builtinDefaults() Rule {
	return Rule{
		Pattern:   patternDefaults,
		Key:       PartRule{Mode: ModeOff, Strategy: StrategyTopic, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsReject},
		Value:     PartRule{Mode: ModeID, Strategy: StrategyTopic, Format: FormatConfluent, WireFormat: WireFormatAny, AllowNull: true, UnknownFields: UnknownFieldsReject},
		OnFailure: OnFailureReject,
	}
}

// internalRule is the defaults with nothing checked.
func internalRule(d Rule) Rule {
	d.Pattern = patternInternal
	d.Key.Mode = ModeOff
	d.Value.Mode = ModeOff
	return d
}

// RuleFor returns the rule for topic: that of the first rule with a
// pattern matching it, else the defaults (Pattern "defaults"). Internal
// topics (names starting with "__", and "_schemas") match only patterns
// that name them exactly; otherwise they get a rule with both modes off
// (Pattern "internal").
//
// The returned Rule is shared and must not be modified. RuleFor does not
// keep topic, so it may alias a buffer that is reused later. It does not
// allocate once the topic's answer is cached.
func (p *Policy) RuleFor(topic string) *Rule {
	if r, ok := p.exact[topic]; ok {
		return r
	}
	if isInternalTopic(topic) {
		return &p.internal
	}
	if len(p.globs) == 0 {
		return &p.defaults
	}
	p.mu.RLock()
	r, ok := p.cache[topic]
	p.mu.RUnlock()
	if ok {
		return r
	}
	r = p.matchGlobs(topic)
	p.mu.Lock()
	if len(p.cache) >= maxCachedTopics {
		clear(p.cache)
	}
	p.cache[strings.Clone(topic)] = r
	p.mu.Unlock()
	return r
}

func (p *Policy) matchGlobs(topic string) *Rule {
	for i := range p.globs {
		// Patterns were checked at parse time, so Match cannot fail.
		if ok, _ := path.Match(p.globs[i].pattern, topic); ok {
			return p.globs[i].rule
		}
	}
	return &p.defaults
}

// RejectScope says whether a rejection fails only its partition (the
// default) or the whole Produce request.
func (p *Policy) RejectScope() Scope { return p.rejectScope }

// OnUnavailable says what happens to records the registry cannot be asked
// about; the default is UnavailableRetry.
func (p *Policy) OnUnavailable() Unavailable { return p.unavailable }

// isInternalTopic reports whether topic is one of Kafka's or the schema
// registry's own: __consumer_offsets, __transaction_state,
// __cluster_metadata, __share_group_state, _schemas and the like.
func isInternalTopic(topic string) bool {
	return strings.HasPrefix(topic, "__") || topic == "_schemas"
}

// isGlob reports whether pattern has path.Match metacharacters; a pattern
// without them names one topic exactly.
func isGlob(pattern string) bool {
	return strings.ContainsAny(pattern, `*?[\`)
}

// The policy document. Scalars are wrapped so that validation can name
// their line; none of the wrappers fails to decode, so that every error
// comes from compilePolicy, with the field's full name.
type policyDoc struct {
	Defaults            defaultsDoc `yaml:"defaults"`
	RejectScope         yString     `yaml:"reject_scope"`
	RegistryUnavailable yString     `yaml:"registry_unavailable"`
	ProtectedTopics     yTopics     `yaml:"protected_topics"`
	Rules               []ruleDoc   `yaml:"rules"`
}

type defaultsDoc struct {
	Value     partDoc `yaml:"value"`
	Key       partDoc `yaml:"key"`
	OnFailure yString `yaml:"on_failure"`
}

type ruleDoc struct {
	Topics    yTopics `yaml:"topics"`
	Value     partDoc `yaml:"value"`
	Key       partDoc `yaml:"key"`
	OnFailure yString `yaml:"on_failure"`
}

type partDoc struct {
	Mode      yString `yaml:"mode"`
	Strategy  yString `yaml:"strategy"`
	Format    yString `yaml:"format"`
	Wire      yString `yaml:"wire_format"`
	AllowNull yBool   `yaml:"allow_null"`
	Unknown   yString `yaml:"unknown_fields"`
}

// yString is a scalar field; set is false when the field is absent or null.
type yString struct {
	set   bool
	value string
	line  int
	kind  yaml.Kind
}

func (s *yString) UnmarshalYAML(n *yaml.Node) error {
	*s = yString{set: true, value: n.Value, line: n.Line, kind: n.Kind}
	return nil
}

type yBool struct {
	yString
	tag string
}

func (b *yBool) UnmarshalYAML(n *yaml.Node) error {
	b.tag = n.ShortTag()
	return b.yString.UnmarshalYAML(n)
}

type yTopics struct {
	set   bool
	line  int
	kind  yaml.Kind
	value string // the scalar, when a single string was given instead of a list
	items []yString
}

func (t *yTopics) UnmarshalYAML(n *yaml.Node) error {
	*t = yTopics{set: true, line: n.Line, kind: n.Kind, value: n.Value}
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	for _, c := range n.Content {
		var s yString
		if c.ShortTag() != "!!null" {
			s = yString{set: true, value: c.Value, line: c.Line, kind: c.Kind}
		} else {
			s = yString{line: c.Line}
		}
		t.items = append(t.items, s)
	}
	return nil
}

// ParsePolicy parses and validates a YAML policy document:
//
//	defaults:
//	  value: {mode: id}               # off | id | payload
//	  key: {mode: off}
//	  on_failure: reject              # reject | log
//	reject_scope: partition           # partition | request
//	registry_unavailable: retry       # retry | reject | allow
//	protected_topics: ["_schemas"]    # names or globs clients may not write, delete or reconfigure; [] for none
//	rules:
//	  - topics: ["orders", "pay-*"]   # exact names or path.Match globs; first match wins
//	    value: {mode: id, strategy: topic, allow_null: true, format: confluent, wire_format: any}
//	    # wire_format: any | prefix (magic 0 + ID; a schema-ID header is
//	    # refused) | header (a schema-ID header is required)
//	    # mode payload: the payload must also decode against its schema;
//	    # unknown_fields: reject | allow (Protobuf field numbers the message
//	    # does not declare)
//	  - topics: ["audit.*"]
//	    value: {mode: payload, unknown_fields: reject}
//	    key: {mode: off}
//	    on_failure: reject
//
// Fields a rule leaves out take the defaults' values, field by field;
// fields the defaults leave out are as in DefaultPolicy (strategy topic,
// format confluent, wire_format any, allow_null true, unknown_fields
// reject). protected_topics left out is ["_schemas"]; its globs match
// internal topics too. Unknown
// fields, unknown values, bad globs, empty topic lists and patterns that
// can never match (an exact name an earlier rule already matches, a glob
// starting with "__") are errors naming the line and the rule. An empty document is an error, so
// that a half-written file is never taken for the default policy: write
// {} for that.
func ParsePolicy(data []byte) (*Policy, error) {
	doc, ruleLines, err := decodePolicy(data)
	if err != nil {
		return nil, err
	}
	return compilePolicy(doc, ruleLines)
}

func decodePolicy(data []byte) (*policyDoc, []int, error) {
	// A first pass into nodes finds syntax errors, empty and multiple
	// documents, and the line of every rule (for rules with no topics).
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errEmptyPolicy
		}
		return nil, nil, yamlSyntaxError(err)
	}
	if len(root.Content) == 0 || root.Content[0].ShortTag() == "!!null" {
		return nil, nil, errEmptyPolicy
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, nil, fmt.Errorf("line %d: a second YAML document; a policy is one document", next.Line)
	case !errors.Is(err, io.EOF):
		return nil, nil, yamlSyntaxError(err)
	}

	var ruleLines []int
	if top := root.Content[0]; top.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "protected_topics" && top.Content[i+1].ShortTag() == "!!null" {
				// A null is decoded as absent, which would mean the default.
				return nil, nil, fmt.Errorf("line %d: protected_topics is null; want a list of topic names or globs, or [] to protect none", top.Content[i+1].Line)
			}
			if top.Content[i].Value == "rules" && top.Content[i+1].Kind == yaml.SequenceNode {
				for _, r := range top.Content[i+1].Content {
					ruleLines = append(ruleLines, r.Line)
				}
			}
		}
	}

	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	doc := new(policyDoc)
	if err := dec.Decode(doc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = rewriteTypeError(m)
			}
			return nil, nil, errors.New(strings.Join(msgs, "; "))
		}
		return nil, nil, yamlSyntaxError(err)
	}
	return doc, ruleLines, nil
}

var errEmptyPolicy = errors.New("policy is empty (no YAML document); an empty file is refused so that a half-written one is never taken for the default policy: write {} for the defaults")

func yamlSyntaxError(err error) error {
	return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
}

// Messages of yaml.TypeError, which name Go types.
var (
	reUnknownField = regexp.MustCompile(`^line (\d+): field (.+) not found in type enforce\.(\w+)$`)
	reFieldTwice   = regexp.MustCompile(`^line (\d+): field (.+) already set in type enforce\.(\w+)$`)
	reWrongKind    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into \\[?\\]?\\*?enforce\\.(\\w+)$")
)

// docSections describes each document type for error messages.
var docSections = map[string]struct {
	name   string
	fields []string
}{
	"policyDoc":   {"the policy", []string{"defaults", "reject_scope", "registry_unavailable", "protected_topics", "rules"}},
	"defaultsDoc": {"defaults", []string{"value", "key", "on_failure"}},
	"ruleDoc":     {"a rule", []string{"topics", "value", "key", "on_failure"}},
	"partDoc":     {"a key or value section", []string{"mode", "strategy", "format", "wire_format", "allow_null", "unknown_fields"}},
}

func rewriteTypeError(m string) string {
	if s := reUnknownField.FindStringSubmatch(m); s != nil {
		sec := docSections[s[3]]
		msg := fmt.Sprintf("line %s: unknown field %q in %s; want %s", s[1], s[2], sec.name, orJoin(sec.fields))
		if g := guessName(s[2], sec.fields); g != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", g)
		}
		return msg
	}
	if s := reFieldTwice.FindStringSubmatch(m); s != nil {
		return fmt.Sprintf("line %s: field %q is set twice in %s", s[1], s[2], docSections[s[3]].name)
	}
	if s := reWrongKind.FindStringSubmatch(m); s != nil {
		got := "a " + s[2]
		switch s[2] {
		case "seq":
			got = "a list"
		case "map":
			got = "a mapping"
		case "str", "int", "bool", "float":
			got = fmt.Sprintf("%q", s[3])
		}
		if strings.Contains(m, "[]enforce.ruleDoc") {
			return fmt.Sprintf("line %s: rules: want a list of rules, got %s", s[1], got)
		}
		sec := docSections[s[4]]
		if s[4] == "partDoc" && s[2] == "str" {
			return fmt.Sprintf("line %s: %s: want a mapping like {mode: %s}, got %s", s[1], sec.name, s[3], got)
		}
		return fmt.Sprintf("line %s: %s: want a mapping of %s, got %s", s[1], sec.name, andJoin(sec.fields), got)
	}
	return m
}

func compilePolicy(doc *policyDoc, ruleLines []int) (*Policy, error) {
	p := &Policy{rules: len(doc.Rules)}
	var err error
	if p.rejectScope, err = parseEnum(doc.RejectScope, "", "reject_scope", ScopePartition,
		ScopePartition, ScopeRequest); err != nil {
		return nil, err
	}
	if p.unavailable, err = parseEnum(doc.RegistryUnavailable, "", "registry_unavailable", UnavailableRetry,
		UnavailableRetry, UnavailableReject, UnavailableAllow); err != nil {
		return nil, err
	}
	if err := p.compileProtected(doc.ProtectedTopics); err != nil {
		return nil, err
	}

	p.defaults = builtinDefaults()
	d := &doc.Defaults
	if err := mergeRule(&p.defaults, "defaults", d.Value, d.Key, d.OnFailure); err != nil {
		return nil, err
	}
	p.internal = internalRule(p.defaults)

	// Exact names seen so far, with the index of the rule that named them.
	named := make(map[string]int)
	for i := range doc.Rules {
		rd := &doc.Rules[i]
		line := 0
		if i < len(ruleLines) {
			line = ruleLines[i]
		}
		ctx, err := checkTopics(i, rd.Topics, line)
		if err != nil {
			return nil, err
		}
		r := p.defaults
		if err := mergeRule(&r, ctx, rd.Value, rd.Key, rd.OnFailure); err != nil {
			return nil, err
		}
		for j, t := range rd.Topics.items {
			pattern := t.value
			if err := p.checkReachable(ctx, i, j, t, named); err != nil {
				return nil, err
			}
			pr := r
			pr.Pattern = pattern
			if isGlob(pattern) {
				p.globs = append(p.globs, globRule{pattern: pattern, rule: &pr, index: i})
			} else {
				if p.exact == nil {
					p.exact = make(map[string]*Rule)
				}
				p.exact[pattern] = &pr
				named[pattern] = i
			}
		}
	}
	if len(p.globs) > 0 {
		p.cache = make(map[string]*Rule)
	}
	return p, nil
}

// compileProtected sets the protected topics from protected_topics: the
// default when it is absent, none for [].
func (p *Policy) compileProtected(t yTopics) error {
	const field = "protected_topics"
	if !t.set {
		p.protectedExact = defaultProtected()
		return nil
	}
	switch t.kind {
	case yaml.SequenceNode:
	case yaml.ScalarNode:
		if t.value == "" || t.value == "null" || t.value == "~" {
			return fmt.Errorf("line %d: %s is null; want a list of topic names or globs, or [] to protect none", t.line, field)
		}
		return fmt.Errorf("line %d: %s %q: want a list, like [%q]", t.line, field, t.value, t.value)
	default:
		return fmt.Errorf("line %d: %s: want a list of topic names or globs", t.line, field)
	}
	for j, it := range t.items {
		item := fmt.Sprintf("%s[%d]", field, j)
		switch {
		case !it.set:
			return fmt.Errorf("line %d: %s is null; want a topic name or glob", it.line, item)
		case it.kind != yaml.ScalarNode:
			return fmt.Errorf("line %d: %s: want a topic name or glob, not a list or mapping", it.line, item)
		}
		if err := checkName(it.value, true); err != nil {
			return fmt.Errorf("line %d: %s %q: %s", it.line, item, it.value, err)
		}
		if isGlob(it.value) {
			if slices.Contains(p.protectedGlobs, it.value) {
				return fmt.Errorf("line %d: %s %q is listed twice", it.line, item, it.value)
			}
			p.protectedGlobs = append(p.protectedGlobs, it.value)
			continue
		}
		if p.protectedExact[it.value] {
			return fmt.Errorf("line %d: %s %q is listed twice", it.line, item, it.value)
		}
		if p.protectedExact == nil {
			p.protectedExact = make(map[string]bool)
		}
		p.protectedExact[it.value] = true
	}
	return nil
}

// checkTopics validates a rule's topic list and returns the rule's name
// for messages, like `rules[1] (pattern "pay-*")`.
func checkTopics(i int, t yTopics, line int) (string, error) {
	ctx := fmt.Sprintf("rules[%d]", i)
	if !t.set {
		return "", fmt.Errorf("%s: topics is missing; want a list of topic names or globs, like [\"orders\", \"pay-*\"]", atLine(line, ctx))
	}
	switch t.kind {
	case yaml.SequenceNode:
	case yaml.ScalarNode:
		return "", fmt.Errorf("%s: topics %q: want a list, like [%q]", atLine(t.line, ctx), t.value, t.value)
	default:
		return "", fmt.Errorf("%s: topics: want a list of topic names or globs", atLine(t.line, ctx))
	}
	if len(t.items) == 0 {
		return "", fmt.Errorf("%s: topics is empty; want at least one topic name or glob", atLine(t.line, ctx))
	}
	quoted := make([]string, 0, 3)
	for k, it := range t.items {
		if k == 3 {
			quoted = append(quoted, "...")
			break
		}
		quoted = append(quoted, strconv.Quote(it.value))
	}
	if len(t.items) == 1 {
		ctx += " (pattern " + quoted[0] + ")"
	} else {
		ctx += " (patterns " + strings.Join(quoted, ", ") + ")"
	}
	for j, it := range t.items {
		field := fmt.Sprintf("topics[%d]", j)
		switch {
		case !it.set:
			return "", fmt.Errorf("%s: %s is null; want a topic name or glob", atLine(it.line, ctx), field)
		case it.kind != yaml.ScalarNode:
			return "", fmt.Errorf("%s: %s: want a topic name or glob, not a list or mapping", atLine(it.line, ctx), field)
		}
		if err := checkPattern(it.value); err != nil {
			return "", fmt.Errorf("%s: %s %q: %s", atLine(it.line, ctx), field, it.value, err)
		}
	}
	return ctx, nil
}

// maxTopicName is Kafka's limit on topic name length.
const maxTopicName = 249

// checkPattern returns why a rule's pattern can never match a Kafka
// topic, or nil.
func checkPattern(pattern string) error { return checkName(pattern, false) }

// checkName returns why pattern can never match a Kafka topic, or nil.
// Globs of rules never match internal topics, so one starting with "__"
// is refused unless internalGlobs (protected_topics, whose globs match
// every name).
func checkName(pattern string, internalGlobs bool) error {
	if pattern == "" {
		return errors.New("empty; want a topic name or glob")
	}
	glob := isGlob(pattern)
	if glob {
		if _, err := path.Match(pattern, ""); err != nil {
			return errors.New(`not a valid glob: want path.Match syntax (*, ?, [a-z], [^a-z], \ escapes)`)
		}
		if strings.HasPrefix(pattern, "__") && !internalGlobs {
			return errors.New(`globs never match internal topics (names starting with "__", and _schemas): name each one exactly`)
		}
	} else {
		if len(pattern) > maxTopicName {
			return fmt.Errorf("%d characters; Kafka topic names have at most %d", len(pattern), maxTopicName)
		}
		if pattern == "." || pattern == ".." {
			return errors.New("not a legal Kafka topic name")
		}
	}
	for _, c := range pattern {
		if topicChar(c) || (glob && strings.ContainsRune(`*?[]^\`, c)) {
			continue
		}
		msg := fmt.Sprintf("has %q; Kafka topic names have only letters, digits, '.', '_' and '-'", c)
		if c == ',' || c == ' ' {
			msg += ": write one list item per topic"
		}
		return errors.New(msg)
	}
	return nil
}

func topicChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// checkReachable rejects an exact name that an earlier pattern already
// matches, since first match wins and the later one would never apply.
// named maps the exact names of earlier rules to their indexes.
func (p *Policy) checkReachable(ctx string, i, j int, t yString, named map[string]int) error {
	pattern := t.value
	if isGlob(pattern) {
		return nil
	}
	field := fmt.Sprintf("topics[%d] %q", j, pattern)
	if k, ok := named[pattern]; ok {
		if k == i {
			return fmt.Errorf("%s: %s is listed twice", atLine(t.line, ctx), field)
		}
		return fmt.Errorf("%s: %s can never match: rules[%d] names it first", atLine(t.line, ctx), field, k)
	}
	if isInternalTopic(pattern) {
		return nil
	}
	for _, g := range p.globs {
		if g.index == i {
			break // the same rule either way
		}
		if ok, _ := path.Match(g.pattern, pattern); ok {
			return fmt.Errorf("%s: %s can never match: rules[%d] (pattern %q) matches it first; move it to an earlier rule", atLine(t.line, ctx), field, g.index, g.pattern)
		}
	}
	return nil
}

// mergeRule overrides r's fields with those the document sets.
func mergeRule(r *Rule, ctx string, value, key partDoc, onFailure yString) error {
	if err := mergePart(&r.Value, ctx, "value", value); err != nil {
		return err
	}
	if err := mergePart(&r.Key, ctx, "key", key); err != nil {
		return err
	}
	var err error
	r.OnFailure, err = parseEnum(onFailure, ctx, "on_failure", r.OnFailure, OnFailureReject, OnFailureLog)
	return err
}

func mergePart(pr *PartRule, ctx, part string, d partDoc) error {
	var err error
	if pr.Mode, err = parseEnum(d.Mode, ctx, part+".mode", pr.Mode, ModeOff, ModeID, ModePayload); err != nil {
		return err
	}
	if pr.Strategy, err = parseEnum(d.Strategy, ctx, part+".strategy", pr.Strategy,
		StrategyTopic, StrategyRecord, StrategyTopicRecord); err != nil {
		return err
	}
	if pr.Format, err = parseEnum(d.Format, ctx, part+".format", pr.Format, FormatConfluent); err != nil {
		return err
	}
	if pr.WireFormat, err = parseEnum(d.Wire, ctx, part+".wire_format", pr.WireFormat,
		WireFormatAny, WireFormatPrefix, WireFormatHeader); err != nil {
		return err
	}
	if pr.UnknownFields, err = parseEnum(d.Unknown, ctx, part+".unknown_fields", pr.UnknownFields,
		UnknownFieldsReject, UnknownFieldsAllow); err != nil {
		return err
	}
	if b := d.AllowNull; b.set {
		if b.kind != yaml.ScalarNode || b.tag != "!!bool" {
			return fmt.Errorf("%s: %s.allow_null %s: want true or false", atLine(b.line, ctx), part, describeNode(b.yString))
		}
		pr.AllowNull, _ = strconv.ParseBool(strings.ToLower(b.value))
	}
	return nil
}

// parseEnum returns def when s is not set, else s if it is one of allowed.
func parseEnum[T ~string](s yString, ctx, field string, def T, allowed ...T) (T, error) {
	if !s.set {
		return def, nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if s.kind == yaml.ScalarNode && string(a) == s.value {
			return a, nil
		}
		names[i] = string(a)
	}
	where := ctx
	if where != "" {
		where += ": "
	}
	if s.line > 0 {
		where = fmt.Sprintf("line %d: %s", s.line, where)
	}
	msg := fmt.Sprintf("%s%s %s: want %s", where, field, describeNode(s), orJoin(names))
	if s.kind == yaml.ScalarNode {
		if g := guessValue(s.value, names); g != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", g)
		}
	}
	return def, errors.New(msg)
}

func describeNode(s yString) string {
	switch s.kind {
	case yaml.ScalarNode:
		return strconv.Quote(s.value)
	case yaml.SequenceNode:
		return "(a list)"
	case yaml.MappingNode:
		return "(a mapping)"
	}
	return "(not a value)"
}

func atLine(line int, ctx string) string {
	if line <= 0 {
		return ctx
	}
	return fmt.Sprintf("line %d: %s", line, ctx)
}

// orJoin renders "a", "a or b", "a, b or c".
func orJoin(s []string) string { return joinWithLast(s, " or ") }

func andJoin(s []string) string { return joinWithLast(s, " and ") }

func joinWithLast(s []string, last string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + last + s[len(s)-1]
}

// guessValue finds the allowed value meant by v: the same but for case,
// '-' for '_', or Confluent's class name for a subject-name strategy
// (io.confluent.kafka.serializers.subject.TopicRecordNameStrategy).
func guessValue(v string, allowed []string) string {
	n := foldName(v)
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		n = n[i+1:]
	}
	n = strings.TrimSuffix(n, "namestrategy")
	for _, a := range allowed {
		if foldName(a) == n {
			return a
		}
	}
	return guessName(v, allowed)
}

// guessName finds the field name meant by a misspelt one, if one is close.
func guessName(v string, names []string) string {
	best, bestDist := "", 3
	for _, name := range names {
		if foldName(name) == foldName(v) {
			return name
		}
		if d := editDistance(v, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

func foldName(s string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
}

// editDistance is the Levenshtein distance between a and b, bytewise.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// EachRule calls fn with every rule of the policy: the defaults, then each
// rule of the document (once per rule, not per pattern).
func (p *Policy) EachRule(fn func(*Rule)) {
	fn(&p.defaults)
	seen := map[*Rule]bool{}
	for _, r := range p.exact {
		if !seen[r] {
			seen[r] = true
			fn(r)
		}
	}
	for _, g := range p.globs {
		if !seen[g.rule] {
			seen[g.rule] = true
			fn(g.rule)
		}
	}
}
