package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/bufbuild/protocompile"
	"github.com/hamba/avro/v2"
	"github.com/schemaproxy/schemaproxy/enforce/payload"
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

// parsed is what the proxy keeps of a schema once parsed: its record
// names, and how to build its payload validator.
type parsed struct {
	names recordNamer // never nil: errNamer when names cannot be resolved
	// compile builds the payload validator; never nil. It is called at most
	// once per schema (Schema.Validator), on first use in mode payload.
	compile func() (payload.Validator, error)
}

// failed is a schema that cannot be used: no names, no validator.
func failed(err error) parsed {
	return parsed{names: errNamer{err}, compile: func() (payload.Validator, error) { return nil, err }}
}

// parseSchema parses a schema of type typ with its references, resolving
// its record names and keeping what its payload validator needs. Only an
// unavailable registry (while fetching references) is returned as an
// error; any other failure is kept in the result, so that a schema whose
// names cannot be resolved can still be checked in mode id by ID, and
// fails only the checks that need what is missing. References are
// fetched with load.
func parseSchema(ctx context.Context, typ sr.SchemaType, text string, refs []sr.SchemaReference, load referenceLoader) (p parsed, err error) {
	// The parsers are third-party code reading text from the network; this
	// runs inside a singleflight goroutine, where a panic would end the
	// process, so it becomes an error instead.
	defer func() {
		if r := recover(); r != nil {
			p, err = failed(fmt.Errorf("%w: parsing %s schema panicked: %v", ErrNoRecordName, typ, r)), nil
		}
	}()
	resolved, err := resolveReferences(ctx, refs, load)
	switch {
	case transient(err):
		return parsed{}, err
	case err != nil && typ == sr.TypeJSON:
		// A JSON Schema's title needs no reference: only its validator fails.
		f := failed(err)
		return parsed{names: jsonNamer(text), compile: f.compile}, nil
	case err != nil:
		return failed(err), nil
	}
	switch typ {
	case sr.TypeAvro:
		return parseAvro(text, resolved), nil
	case sr.TypeProtobuf:
		return parseProtobuf(ctx, text, resolved), nil
	case sr.TypeJSON:
		return parseJSON(text, resolved), nil
	default:
		return failed(fmt.Errorf("%w: unknown schema type %s", ErrNoRecordName, typ)), nil
	}
}

// onceCompile wraps a validator constructor so it runs once, turning a
// panic of the third-party compilers it calls into an error.
func onceCompile(f func() (payload.Validator, error)) func() (payload.Validator, error) {
	return sync.OnceValues(func() (v payload.Validator, err error) {
		defer func() {
			if r := recover(); r != nil {
				v, err = nil, fmt.Errorf("compiling the payload validator panicked: %v", r)
			}
		}()
		return f()
	})
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
			if transient(err) {
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

// parseAvro names an Avro schema by the full name of its top-level named
// type (record, enum or fixed). Named types of referenced schemas are
// parsed first into one cache, so the schema may use them by name, as
// Confluent's serializers resolve references.
func parseAvro(text string, resolved []resolvedRef) parsed {
	cache := &avro.SchemaCache{} // never avro.DefaultSchemaCache: names would leak between schemas
	for _, ref := range resolved {
		if _, err := avro.ParseWithCache(ref.schema, "", cache); err != nil {
			return failed(fmt.Errorf("%w: parsing avro reference %q: %v", ErrNoRecordName, ref.name, err))
		}
	}
	s, err := avro.ParseWithCache(text, "", cache)
	if err != nil {
		return failed(fmt.Errorf("%w: parsing avro schema: %v", ErrNoRecordName, err))
	}
	p := parsed{compile: onceCompile(func() (payload.Validator, error) { return payload.NewAvro(s) })}
	if named, ok := s.(avro.NamedSchema); ok {
		p.names = constNamer(named.FullName())
	} else {
		p.names = errNamer{fmt.Errorf("%w: top-level avro type is %s, not a named type", ErrNoRecordName, s.Type())}
	}
	return p
}

// parseJSON names a JSON Schema by its top-level "title". Its references
// are kept for the payload validator, by name, which is what "$ref" uses.
func parseJSON(text string, resolved []resolvedRef) parsed {
	refs := make(map[string]string, len(resolved))
	for _, ref := range resolved {
		refs[ref.name] = ref.schema
	}
	p := parsed{compile: onceCompile(func() (payload.Validator, error) { return payload.NewJSON(text, refs) })}
	p.names = jsonNamer(text)
	return p
}

// jsonNamer names a JSON Schema by its top-level "title".
func jsonNamer(text string) recordNamer {
	var top any
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		return errNamer{fmt.Errorf("%w: parsing json schema: %v", ErrNoRecordName, err)}
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return errNamer{fmt.Errorf("%w: json schema is %T, not an object with a title", ErrNoRecordName, top)}
	}
	title, _ := obj["title"].(string)
	if title == "" {
		return errNamer{fmt.Errorf("%w: json schema has no top-level title", ErrNoRecordName)}
	}
	return constNamer(title)
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

// parseProtobuf compiles a Protobuf schema with its references (each
// reference's name is its import path) and the standard google/protobuf
// imports, which Confluent's serializers do not register as references.
// It keeps the message-name tree and the compiled file for the payload
// validator.
func parseProtobuf(ctx context.Context, text string, resolved []resolvedRef) parsed {
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
		return failed(fmt.Errorf("%w: compiling protobuf schema: %v", ErrNoRecordName, err))
	}
	fd := compiled[0]
	names := &protoNames{top: newProtoMessages(fd.Messages())}
	if len(names.top) == 0 {
		return failed(fmt.Errorf("%w: protobuf schema defines no message", ErrNoRecordName))
	}
	return parsed{names: names, compile: onceCompile(func() (payload.Validator, error) { return payload.NewProtobuf(fd) })}
}
