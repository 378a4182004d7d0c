// Package examples holds the example schemas that "schemaproxy demo"
// registers, embedded so the demo runs from any directory, and the Go type
// of their events. The files themselves, under schemas/, are the
// reference: "schemaproxy check" and "schemaproxy register" read them like
// any other directory of schemas.
package examples

import "embed"

// Schemas holds schemas/*.avsc, at paths like "schemas/memory.created.avsc".
//
//go:embed schemas/*.avsc
var Schemas embed.FS

// MemoryCreated is one event of schemas/memory.created.avsc, tagged for
// github.com/hamba/avro/v2: the demo's smoke test and the bench tool
// encode it. A nil UserID or AgentID is the union's null.
type MemoryCreated struct {
	EventID        string         `avro:"event_id"`
	EventType      string         `avro:"event_type"`
	Timestamp      string         `avro:"timestamp"`
	SourceService  string         `avro:"source_service"`
	MemoryID       string         `avro:"memory_id"`
	UserID         *string        `avro:"user_id"`
	AgentID        *string        `avro:"agent_id"`
	ContentPreview string         `avro:"content_preview"`
	Metadata       map[string]any `avro:"metadata"`
}
