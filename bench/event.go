package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/schemaproxy/schemaproxy/examples"
)

// eventFile is the schema every record's value is written with, and the
// one registered under each round topic's <topic>-value subject.
const eventFile = "schemas/memory.created.avsc"

// eventSchema is the text of eventFile.
func eventSchema() (string, error) {
	b, err := examples.Schemas.ReadFile(eventFile)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Vocabulary of the generated content: text compresses as text does.
var (
	services = []string{"memory-api", "agent-runtime", "ingest-worker", "chat-gateway", "planner", "summarizer"}
	words    = strings.Fields(`the user prefers short answers and asked about deployment of the agent
		memory store when a task fails retry with backoff then report to the planner summary of
		meeting notes from monday project deadline moved to friday customer wants invoice in euros
		remember that the staging cluster runs kafka four with three brokers and schema registry
		language preference english timezone europe berlin likes concise bullet points avoid jargon
		the agent learned a new tool for searching documents vector index rebuilt nightly at two
		follow up on the open ticket about latency spikes in the checkout service after release
		tokens budget exceeded context window trimmed oldest messages first keep system prompt`)
	langs = []string{"en", "de", "fr", "es", "ja", "pt"}
)

// eventPool builds n distinct record values of exactly size bytes each:
// the Confluent wire format (magic byte 0, the 4-byte big-endian schema
// ID) and then one Avro-encoded MemoryCreated event with varied random
// but valid fields, padded to size through content_preview. Values are
// reused round-robin by the producers; n well above the records of one
// batch keeps every batch free of repeats, so compression ratios are
// those of real events.
func eventPool(n, size, schemaID int, seed uint64) ([][]byte, error) {
	text, err := eventSchema()
	if err != nil {
		return nil, err
	}
	schema, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", eventFile, err)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	header := binary.BigEndian.AppendUint32([]byte{0}, uint32(schemaID))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	pool := make([][]byte, n)
	for i := range pool {
		ev := randomEvent(rng, base)
		v, err := padded(schema, header, ev, size, rng)
		if err != nil {
			// Too big with every field: retry with the optional ones empty.
			ev.UserID, ev.AgentID, ev.Metadata = nil, nil, map[string]any{}
			if v, err = padded(schema, header, ev, size, rng); err != nil {
				return nil, err
			}
		}
		pool[i] = v
	}
	return pool, nil
}

func randomEvent(rng *rand.Rand, base time.Time) examples.MemoryCreated {
	ev := examples.MemoryCreated{
		EventID:       uuid(rng),
		EventType:     "memory.created",
		Timestamp:     base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Format(time.RFC3339Nano),
		SourceService: services[rng.IntN(len(services))],
		MemoryID:      "mem-" + strconv.FormatUint(rng.Uint64()>>20, 36),
		Metadata:      map[string]any{},
	}
	if rng.IntN(10) < 8 {
		u := "user-" + strconv.Itoa(rng.IntN(100_000))
		ev.UserID = &u
	}
	if rng.IntN(10) < 6 {
		a := "agent-" + strconv.FormatUint(rng.Uint64()>>40, 16)
		ev.AgentID = &a
	}
	ev.Metadata["importance"] = rng.IntN(10)
	ev.Metadata["pinned"] = rng.IntN(4) == 0
	ev.Metadata["lang"] = langs[rng.IntN(len(langs))]
	if rng.IntN(3) == 0 {
		ev.Metadata["expires"] = nil
	}
	if rng.IntN(2) == 0 {
		ev.Metadata["session"] = uuid(rng)[:13]
	}
	return ev
}

// padded encodes ev with content_preview sized so that header plus the
// Avro body is exactly size bytes.
func padded(schema avro.Schema, header []byte, ev examples.MemoryCreated, size int, rng *rand.Rand) ([]byte, error) {
	ev.ContentPreview = ""
	body, err := avro.Marshal(schema, ev)
	if err != nil {
		return nil, fmt.Errorf("encoding an event: %w", err)
	}
	// An Avro string is a zig-zag varint length and the bytes; the empty
	// string took one length byte.
	fixed := len(header) + len(body) - 1
	for n := size - fixed - 1; n >= 0; n-- {
		if fixed+varintLen(int64(n))+n == size {
			ev.ContentPreview = sentence(rng, n)
			body, err := avro.Marshal(schema, ev)
			if err != nil {
				return nil, fmt.Errorf("encoding an event: %w", err)
			}
			v := append(append(make([]byte, 0, size), header...), body...)
			if len(v) != size {
				return nil, fmt.Errorf("event encoded to %d bytes, want %d", len(v), size)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("--record-size %d is below the smallest event this schema encodes to (%d bytes)", size, fixed+1)
}

// varintLen is the length of Avro's zig-zag varint encoding of n.
func varintLen(n int64) int {
	u := uint64(n<<1) ^ uint64(n>>63)
	l := 1
	for u >= 0x80 {
		u >>= 7
		l++
	}
	return l
}

// sentence is exactly n bytes of words drawn from the vocabulary.
func sentence(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()[:n]
}

func uuid(rng *rand.Rand) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rng.Uint64())
	binary.BigEndian.PutUint64(b[8:], rng.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
}
