package schemas

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Strategy is a subject-name strategy, as Confluent's serializers name
// them.
type Strategy string

// Strategies. The topic of a file is its name without the extension and
// without a trailing -key or -value.
const (
	// StrategyTopic (the default): <topic>-value, or <topic>-key for a
	// file named <topic>-key.*.
	StrategyTopic Strategy = "topic"
	// StrategyRecord: the record's full name (Avro namespace.name,
	// the first Protobuf message, the JSON Schema title).
	StrategyRecord Strategy = "record"
	// StrategyTopicRecord: <topic>-<record full name>.
	StrategyTopicRecord Strategy = "topic_record"
)

// ParseStrategy reads a strategy name.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(strings.ToLower(s)); st {
	case StrategyTopic, StrategyRecord, StrategyTopicRecord:
		return st, nil
	}
	return "", fmt.Errorf("strategy %q: want topic, record or topic_record", s)
}

// Namer names the subject of each file. The zero Namer uses
// StrategyTopic and no map.
type Namer struct {
	Strategy Strategy
	// Map holds subjects by file path (slash-separated, relative to the
	// directory searched); a file it names ignores Strategy.
	Map map[string]string
}

// Subject returns f's subject. The record strategies need f parsed.
func (n Namer) Subject(f *File) (string, error) {
	if s, ok := n.Map[f.Path]; ok {
		return s, nil
	}
	topic, part := splitStem(stem(f.Path))
	switch n.Strategy {
	case StrategyRecord, StrategyTopicRecord:
		if f.Record == "" {
			return "", fmt.Errorf("%w: the %s strategy needs one (Avro: a named top-level type; Protobuf: a message; JSON Schema: a title)", ErrNoRecordName, n.Strategy)
		}
		if n.Strategy == StrategyRecord {
			return f.Record, nil
		}
		return topic + "-" + f.Record, nil
	}
	return topic + "-" + part, nil
}

// splitStem splits "orders-key" into "orders", "key"; a stem without a
// -key or -value suffix is a value.
func splitStem(s string) (topic, part string) {
	for _, p := range []string{"key", "value"} {
		if t, ok := strings.CutSuffix(s, "-"+p); ok && t != "" {
			return t, p
		}
	}
	return s, "value"
}

// LoadSubjectMap reads a YAML mapping of file paths (relative to the
// directory checked) to subjects:
//
//	orders/v2/order.avsc: orders-value
//	payments.proto: payments-value
func LoadSubjectMap(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw map[string]string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: want a mapping of file path to subject: %w", file, err)
	}
	m := make(map[string]string, len(raw))
	for p, subject := range raw {
		clean := path.Clean(strings.ReplaceAll(p, `\`, "/"))
		if subject == "" {
			return nil, fmt.Errorf("%s: %s maps to an empty subject", file, p)
		}
		if _, dup := m[clean]; dup {
			return nil, fmt.Errorf("%s: %s is listed twice", file, clean)
		}
		m[clean] = subject
	}
	return m, nil
}

// unusedMapEntries returns the map's paths that name no file found, sorted.
func (n Namer) unusedMapEntries(files []*File) []string {
	found := make(map[string]bool, len(files))
	for _, f := range files {
		found[f.Path] = true
	}
	var out []string
	for p := range n.Map {
		if !found[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
