// Package schemas runs the schema-evolution workflows of "schemaproxy
// check" and "schemaproxy register" over a directory of schema files: it
// finds the files, names each one's subject, parses each locally (syntax
// errors with file and line), asks a Confluent-compatible registry whether
// each may become the subject's next version and registers what may, or,
// with no registry, checks Avro files against their previous versions (a
// directory or a git revision) with package compat. A Report holds one
// Result per file and writes itself as text, JSON or JUnit XML.
//
// Which files count (Find):
//   - *.avsc: Avro.
//   - *.proto: Protobuf.
//   - *.json: JSON Schema when the file's name ends in .schema.json, or
//     its top-level object has a "$schema" keyword (a file that is not
//     well-formed JSON counts when its text contains "$schema", so its
//     syntax error is reported rather than the file skipped). Other .json
//     files are ignored.
//
// Directories whose names start with "." are skipped. Each schema must be
// self-contained: schema references (Avro named types from other files,
// Protobuf imports other than google/protobuf/*, JSON Schema $refs to
// other documents) are not resolved. It does not talk to Kafka.
package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// maxSchemaBytes bounds the size of one schema file.
const maxSchemaBytes = 8 << 20

// File is one schema file found under a directory.
type File struct {
	Path   string        // slash-separated, relative to the directory searched
	Type   sr.SchemaType // TypeAvro, TypeProtobuf or TypeJSON
	Text   string        // the file's contents
	Record string        // the top-level record's full name, set by Parse; "" if it has none

	avro avro.Schema // set by Parse for Avro files
}

// Find returns the schema files under fsys's root, in lexical path order.
// A file it cannot read is an error; so is a file over 8 MiB.
func Find(fsys fs.FS) ([]*File, error) {
	var out []*File
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		typ, maybe := typeByName(p)
		if !maybe {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Size() > maxSchemaBytes {
			return fmt.Errorf("%s: %d bytes is over the %d-byte limit for a schema", p, info.Size(), maxSchemaBytes)
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if typ == sr.TypeJSON && !isJSONSchema(p, data) {
			return nil
		}
		out = append(out, &File{Path: p, Type: typ, Text: string(data)})
		return nil
	})
	return out, err
}

// typeByName classifies a file by its name; JSON files are only maybe
// JSON Schemas.
func typeByName(p string) (sr.SchemaType, bool) {
	switch path.Ext(p) {
	case ".avsc":
		return sr.TypeAvro, true
	case ".proto":
		return sr.TypeProtobuf, true
	case ".json":
		return sr.TypeJSON, true
	}
	return 0, false
}

// isJSONSchema applies the rule in the package doc to a .json file.
func isJSONSchema(p string, data []byte) bool {
	if strings.HasSuffix(p, ".schema.json") {
		return true
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var syn *json.SyntaxError
		return errors.As(err, &syn) && strings.Contains(string(data), `"$schema"`)
	}
	_, ok := top["$schema"]
	return ok
}

// stem is a file's name without its schema extension: "orders" for
// "a/orders.avsc" and for "a/orders.schema.json".
func stem(p string) string {
	base := path.Base(p)
	if s, ok := strings.CutSuffix(base, ".schema.json"); ok {
		return s
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

// Schema returns the registry form of f: its text and type, no references.
func (f *File) Schema() sr.Schema {
	return sr.Schema{Schema: f.Text, Type: f.Type}
}
