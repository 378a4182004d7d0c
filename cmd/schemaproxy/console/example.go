package console

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/schemaproxy/schemaproxy/cmd/schemaproxy/schemas"
	"github.com/schemaproxy/schemaproxy/examples"
)

// ExampleFile is the example schema's path in examples.Schemas.
const ExampleFile = "schemas/memory.created.avsc"

// ExampleEvent returns a memory.created event with an event ID made from
// now, so that each call's event can be told apart once it lands.
func ExampleEvent(now time.Time) examples.MemoryCreated {
	user := "user-42"
	return examples.MemoryCreated{
		EventID:        "evt-" + strconv.FormatInt(now.UnixNano(), 36),
		EventType:      "memory.created",
		Timestamp:      now.UTC().Format(time.RFC3339),
		SourceService:  "schemaproxy-demo",
		MemoryID:       "mem-1",
		UserID:         &user,
		ContentPreview: "The user prefers short answers.",
		Metadata:       map[string]any{"importance": 3, "pinned": true, "lang": "en", "expires": nil},
	}
}

// ExampleSchema returns the text and the parsed form of the example
// schema, examples/schemas/memory.created.avsc.
func ExampleSchema() (string, avro.Schema, error) {
	text, err := examples.Schemas.ReadFile(ExampleFile)
	if err != nil {
		return "", nil, err
	}
	s, err := schemas.ParseAvro(string(text))
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", ExampleFile, err)
	}
	return string(text), s, nil
}

// EncodeExample returns ev in Confluent's wire format: magic byte 0, id
// as 4 bytes big-endian, then ev as Avro binary of the example schema.
func EncodeExample(id int, ev examples.MemoryCreated) ([]byte, error) {
	_, s, err := ExampleSchema()
	if err != nil {
		return nil, err
	}
	body, err := avro.Marshal(s, ev)
	if err != nil {
		return nil, fmt.Errorf("encoding the example event: %w", err)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...), nil
}

// ExampleID asks the registry for the ID the example schema has under
// subject; an error if it is not registered there.
func ExampleID(ctx context.Context, cl *sr.Client, subject string) (int, error) {
	text, _, err := ExampleSchema()
	if err != nil {
		return 0, err
	}
	ss, err := cl.LookupSchema(ctx, subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("looking up the example schema (%s) under subject %s: %w", ExampleFile, subject, err)
	}
	return ss.ID, nil
}
