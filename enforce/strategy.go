package enforce

import "fmt"

// Subject returns the subject a record part's schema must be registered
// under, by the rules of Confluent's subject-name strategies:
//
//   - StrategyTopic (TopicNameStrategy, the serializers' default):
//     "<topic>-key" for keys, "<topic>-value" for values. schema and
//     indexes are not used and schema may be nil.
//   - StrategyRecord (RecordNameStrategy): the fully-qualified record
//     name, the same for keys and values: for Avro the full name
//     (namespace.name) of the top-level named type, for Protobuf the
//     fully-qualified name of the message the indexes select, for JSON
//     Schema the top-level "title".
//   - StrategyTopicRecord (TopicRecordNameStrategy):
//     "<topic>-<fully-qualified record name>".
//
// Dots in record names are kept as they are ("com.acme.Order"). For
// Protobuf, indexes are the message indexes read from the wire (nil means
// [0], the first message); other types ignore them.
//
// Errors: an unknown strategy; for the record strategies, a nil schema or
// one without a record name (the error wraps ErrNoRecordName: an Avro
// primitive or union, a JSON Schema without a title, indexes that select
// no message, a schema that failed to parse).
//
// The returned string is allocated on each call; callers checking a batch
// compute the topic strategy's subject once per part.
func Subject(strategy Strategy, topic string, isKey bool, schema *Schema, indexes []int) (string, error) {
	switch strategy {
	case StrategyTopic:
		if isKey {
			return topic + "-key", nil
		}
		return topic + "-value", nil
	case StrategyRecord, StrategyTopicRecord:
		if schema == nil {
			return "", fmt.Errorf("%w: strategy %s needs the schema", ErrNoRecordName, strategy)
		}
		name, err := schema.RecordName(indexes)
		if err != nil {
			return "", err
		}
		if strategy == StrategyRecord {
			return name, nil
		}
		return topic + "-" + name, nil
	default:
		return "", fmt.Errorf("unknown subject-name strategy %q", strategy)
	}
}
