package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Limits on the reference graph a schema may pull in. Registries reject
// cycles, but a reference graph is still data from the network.
const (
	maxReferences     = 256 // distinct subject versions, all depths
	maxReferenceDepth = 32
)

// mainProtoFile is the file name the registered schema itself is compiled
// under; references are compiled under their own names (import paths).
const mainProtoFile = "schemaproxy/registered_schema.proto"

// referenceLoader fetches the schema a reference points to.
type referenceLoader func(ctx context.Context, ref sr.SchemaReference) (sr.Schema, error)

// errNamer is the recordNamer of a schema whose names could not be
// resolved: every RecordName call returns err.
type errNamer struct{ err error }

func (n errNamer) RecordName([]int) (string, error) { return "", n.err }

// constNamer names every record of a schema the same: Avro and JSON Schema
// ignore message indexes.
type constNamer string

func (n constNamer) RecordName([]int) (string, error) { return string(n), nil }

// parseNames resolves the record names of a schema of type typ. Errors
// wrap ErrNoRecordName, except that an unavailable registry while
// fetching references wraps ErrRegistryUnavailable. Avro and Protobuf
// references are fetched with load; JSON Schema needs none for its title.
func parseNames(ctx context.Context, typ sr.SchemaType, text string, refs []sr.SchemaReference, load referenceLoader) (n recordNamer, err error) {
	// The parsers are third-party code reading text from the network; this
	// runs inside a singleflight goroutine, where a panic would end the
	// process, so it becomes an error instead.
	defer func() {
		if p := recover(); p != nil {
			n, err = nil, fmt.Errorf("%w: parsing %s schema panicked: %v", ErrNoRecordName, typ, p)
		}
	}()
	switch typ {
	case sr.TypeAvro:
		return parseAvroNames(ctx, text, refs, load)
	case sr.TypeProtobuf:
		return parseProtobufNames(ctx, text, refs, load)
	case sr.TypeJSON:
		return parseJSONNames(text)
	default:
		return nil, fmt.Errorf("%w: unknown schema type %s", ErrNoRecordName, typ)
	}
}

// resolvedRef is a fetched reference.
type resolvedRef struct {
	name   string // the reference's name: an Avro full name, a Protobuf import path
	schema string
}

// resolveReferences fetches refs and everything they reference, returning
// each distinct subject version once, dependencies before dependents.
func resolveReferences(ctx context.Context, refs []sr.SchemaReference, load referenceLoader) ([]resolvedRef, error) {
	type subjectVersion struct {
		subject string
		version int
	}
	seen := make(map[subjectVersion]bool)
	var out []resolvedRef
	var walk func(refs []sr.SchemaReference, depth int) error
	walk = func(refs []sr.SchemaReference, depth int) error {
		if depth > maxReferenceDepth {
			return fmt.Errorf("%w: references nest deeper than %d", ErrNoRecordName, maxReferenceDepth)
		}
		for _, ref := range refs {
			key := subjectVersion{ref.Subject, ref.Version}
			if seen[key] {
				continue
			}
			seen[key] = true
			if len(seen) > maxReferences {
				return fmt.Errorf("%w: more than %d referenced schemas", ErrNoRecordName, maxReferences)
			}
			s, err := load(ctx, ref)
			if errors.Is(err, ErrRegistryUnavailable) {
				return err
			}
			if err != nil {
				return fmt.Errorf("%w: reference %q (subject %q version %d): %v", ErrNoRecordName, ref.Name, ref.Subject, ref.Version, err)
			}
			if err := walk(s.References, depth+1); err != nil {
				return err
			}
			out = append(out, resolvedRef{name: ref.Name, schema: s.Schema})
		}
		return nil
	}
	if err := walk(refs, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// parseAvroNames names an Avro schema by the full name of its top-level
// named type (record, enum or fixed). Named types of referenced schemas
// are parsed first into one cache, so the schema may use them by name, as
// Confluent's serializers resolve references.
func parseAvroNames(ctx context.Context, text string, refs []sr.SchemaReference, load referenceLoader) (recordNamer, error) {
	resolved, err := resolveReferences(ctx, refs, load)
	if err != nil {
		return nil, err
	}
	cache := &avro.SchemaCache{} // never avro.DefaultSchemaCache: names would leak between schemas
	for _, ref := range resolved {
		if _, err := avro.ParseWithCache(ref.schema, "", cache); err != nil {
			return nil, fmt.Errorf("%w: parsing avro reference %q: %v", ErrNoRecordName, ref.name, err)
		}
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing avro schema: %v", ErrNoRecordName, err)
	}
	named, ok := s.(avro.NamedSchema)
	if !ok {
		return nil, fmt.Errorf("%w: top-level avro type is %s, not a named type", ErrNoRecordName, s.Type())
	}
	return constNamer(named.FullName()), nil
}

// parseJSONNames names a JSON Schema by its top-level "title".
func parseJSONNames(text string) (recordNamer, error) {
	var top any
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return nil, fmt.Errorf("%w: parsing json schema: %v", ErrNoRecordName, err)
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: json schema is %T, not an object with a title", ErrNoRecordName, top)
	}
	title, _ := obj["title"].(string)
	if title == "" {
		return nil, fmt.Errorf("%w: json schema has no top-level title", ErrNoRecordName)
	}
	return constNamer(title), nil
}

// protoNames names the messages of a Protobuf file by message indexes.
type protoNames struct {
	top []protoMessage
}

type protoMessage struct {
	name   string // fully qualified, without a leading dot
	nested []protoMessage
}

// RecordName returns the fully-qualified name of the message indexes
// select: [0] is the first top-level message, [1, 0] the first message
// nested in the second. No indexes mean [0], as the count-0 shortcut does.
func (p *protoNames) RecordName(indexes []int) (string, error) {
	if len(indexes) == 0 {
		return p.top[0].name, nil // parseProtobufNames ensures one message
	}
	list := p.top
	var m *protoMessage
	for depth, ix := range indexes {
		if ix < 0 || ix >= len(list) {
			return "", fmt.Errorf("%w: message indexes %v: index %d at depth %d selects none of %d messages", ErrNoRecordName, indexes, ix, depth, len(list))
		}
		m = &list[ix]
		list = m.nested
	}
	return m.name, nil
}

func newProtoMessages(msgs protoreflect.MessageDescriptors) []protoMessage {
	if msgs.Len() == 0 {
		return nil
	}
	out := make([]protoMessage, msgs.Len())
	for i := range out {
		md := msgs.Get(i)
		out[i] = protoMessage{name: string(md.FullName()), nested: newProtoMessages(md.Messages())}
	}
	return out
}

// parseProtobufNames compiles a Protobuf schema with its references (each
// reference's name is its import path) and the standard google/protobuf
// imports, which Confluent's serializers do not register as references,
// and keeps only the message-name tree.
func parseProtobufNames(ctx context.Context, text string, refs []sr.SchemaReference, load referenceLoader) (recordNamer, error) {
	resolved, err := resolveReferences(ctx, refs, load)
	if err != nil {
		return nil, err
	}
	files := make(map[string]string, len(resolved)+1)
	for _, ref := range resolved {
		files[ref.name] = ref.schema
	}
	main := mainProtoFile
	for _, taken := files[main]; taken; _, taken = files[main] {
		main = "_" + main
	}
	files[main] = text
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(path string) (io.ReadCloser, error) {
				src, ok := files[path]
				if !ok {
					return nil, fmt.Errorf("%s: %w (not among the schema's references)", path, os.ErrNotExist)
				}
				return io.NopCloser(strings.NewReader(src)), nil
			},
		}),
		MaxParallelism: 1,
	}
	compiled, err := c.Compile(ctx, main)
	if err != nil {
		return nil, fmt.Errorf("%w: compiling protobuf schema: %v", ErrNoRecordName, err)
	}
	p := &protoNames{top: newProtoMessages(compiled[0].Messages())}
	if len(p.top) == 0 {
		return nil, fmt.Errorf("%w: protobuf schema defines no message", ErrNoRecordName)
	}
	return p, nil
}
