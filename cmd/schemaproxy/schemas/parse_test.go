package schemas

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/twmb/franz-go/pkg/sr"
)

// TestParseErrors checks that each kind of schema reports its syntax
// errors with the file, the line and, where the parser knows it, the
// column.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		path       string
		typ        sr.SchemaType
		text       string
		line, col  int
		msgContain string
	}{
		{
			name: "avro: trailing comma",
			path: "a.avsc", typ: sr.TypeAvro,
			text: "{\n  \"type\": \"record\",\n  \"name\": \"A\",\n  \"fields\": [\n    {\"name\": \"x\", \"type\": \"int\"},\n  ]\n}\n",
			line: 6, col: 3, msgContain: "invalid JSON: invalid character ']'",
		},
		{
			name: "avro: truncated",
			path: "a.avsc", typ: sr.TypeAvro,
			text: "{\n  \"type\": \"record\",\n",
			line: 3, col: 1, msgContain: "unexpected end of JSON input",
		},
		{
			name: "avro: unknown type",
			path: "a.avsc", typ: sr.TypeAvro,
			text: "{\"type\": \"record\", \"name\": \"A\", \"fields\": [\n  {\"name\": \"x\", \"type\": \"strng\"}\n]}",
			line: 2, col: 25, msgContain: "unknown type: strng",
		},
		{
			name: "avro: duplicate field",
			path: "a.avsc", typ: sr.TypeAvro,
			text: "{\"type\": \"record\", \"name\": \"A\", \"fields\": [\n  {\"name\": \"x\", \"type\": \"int\"},\n  {\"name\" : \"x\", \"type\": \"int\"}\n]}",
			line: 3, col: 4, msgContain: `duplicate field name "x"`,
		},
		{
			name: "avro: bad default",
			path: "a.avsc", typ: sr.TypeAvro,
			text: "{\"type\": \"record\", \"name\": \"A\", \"fields\": [\n  {\"name\": \"n\", \"type\": \"int\", \"default\": \"zero\"}\n]}",
			line: 2, col: 4, msgContain: "invalid default for field n",
		},
		{
			name: "avro: no position known",
			path: "a.avsc", typ: sr.TypeAvro,
			text:       `{"type": "record", "name": "A"}`,
			msgContain: "record must have an array of fields",
		},
		{
			name: "protobuf: missing semicolon",
			path: "p/a.proto", typ: sr.TypeProtobuf,
			text: "syntax = \"proto3\";\nmessage A {\n  string x = 1\n}\n",
			line: 4, col: 1, msgContain: "syntax error",
		},
		{
			name: "protobuf: unknown type",
			path: "a.proto", typ: sr.TypeProtobuf,
			text: "syntax = \"proto3\";\nmessage A {\n  Strng x = 1;\n}\n",
			line: 3, col: 3, msgContain: "Strng",
		},
		{
			name: "protobuf: missing import",
			path: "a.proto", typ: sr.TypeProtobuf,
			text: "syntax = \"proto3\";\nimport \"other.proto\";\nmessage A {}\n",
			line: 2, col: 8, msgContain: "other.proto",
		},
		{
			name: "json schema: syntax",
			path: "u.schema.json", typ: sr.TypeJSON,
			text: "{\n  \"type\": \"object\"\n  \"title\": \"U\"\n}",
			line: 3, col: 3, msgContain: "invalid JSON",
		},
		{
			name: "json schema: not valid against the metaschema",
			path: "u.schema.json", typ: sr.TypeJSON,
			text: "{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n  \"properties\": {\n    \"age\": {\"minimum\": \"ten\"}\n  }\n}",
			line: 4, col: 24, msgContain: "at '/properties/age/minimum': got string, want number",
		},
		{
			name: "json schema: reference to another document",
			path: "u.schema.json", typ: sr.TypeJSON,
			text:       `{"$schema": "http://json-schema.org/draft-07/schema#", "$ref": "other.json"}`,
			msgContain: "references to other documents are not resolved",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &File{Path: tt.path, Type: tt.typ, Text: tt.text}
			err := Parse(fstest.MapFS{}, f)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if se.Path != tt.path || se.Line != tt.line || se.Column != tt.col {
				t.Errorf("position: got %s:%d:%d, want %s:%d:%d (%v)", se.Path, se.Line, se.Column, tt.path, tt.line, tt.col, se.Err)
			}
			if !strings.Contains(se.Error(), tt.msgContain) {
				t.Errorf("message: got %q, want it to contain %q", se.Error(), tt.msgContain)
			}
		})
	}
}

func TestParseRecordNames(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"common/money.proto": {Data: []byte("syntax = \"proto3\";\npackage common;\nmessage Money { int64 units = 1; }\n")},
	}
	tests := []struct {
		f    *File
		want string
	}{
		{&File{Path: "a.avsc", Type: sr.TypeAvro, Text: `{"type":"record","name":"A","namespace":"com.x","fields":[]}`}, "com.x.A"},
		{&File{Path: "e.avsc", Type: sr.TypeAvro, Text: `{"type":"enum","name":"E","symbols":["X"]}`}, "E"},
		{&File{Path: "s.avsc", Type: sr.TypeAvro, Text: `"string"`}, ""},
		{&File{Path: "p.proto", Type: sr.TypeProtobuf, Text: "syntax = \"proto3\";\npackage shop;\nimport \"common/money.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }\nmessage Other {}\n"}, "shop.Order"},
		{&File{Path: "u.schema.json", Type: sr.TypeJSON, Text: `{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"User","type":"object"}`}, "User"},
		{&File{Path: "n.schema.json", Type: sr.TypeJSON, Text: `{"type":"object"}`}, ""},
	}
	for _, tt := range tests {
		if err := Parse(fsys, tt.f); err != nil {
			t.Errorf("%s: %v", tt.f.Path, err)
			continue
		}
		if tt.f.Record != tt.want {
			t.Errorf("%s: record got %q, want %q", tt.f.Path, tt.f.Record, tt.want)
		}
	}
}

func TestLocatePointer(t *testing.T) {
	t.Parallel()
	doc := []byte("{\n  \"a\": [1, {\"b\": true}],\n  \"c\": {\"d\": \"x\"}\n}")
	tests := []struct {
		ptr       []string
		line, col int
		ok        bool
	}{
		{nil, 1, 1, true},
		{[]string{"a"}, 2, 8, true},
		{[]string{"a", "1", "b"}, 2, 18, true},
		{[]string{"c", "d"}, 3, 14, true},
		{[]string{"c", "e"}, 0, 0, false},
	}
	for _, tt := range tests {
		off, ok := locatePointer(doc, tt.ptr)
		var line, col int
		if ok {
			line, col = lineCol(doc, off)
		}
		if ok != tt.ok || line != tt.line || col != tt.col {
			t.Errorf("%q: got %d:%d %v, want %d:%d %v", tt.ptr, line, col, ok, tt.line, tt.col, tt.ok)
		}
	}
}
