package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/sr"
)

// Parse checks f locally, as the registry would parse it, and sets
// f.Record. Errors are *SyntaxError; fsys is where Protobuf imports are
// looked up (paths relative to its root), besides google/protobuf/*.
func Parse(fsys fs.FS, f *File) (err error) {
	// The parsers are third-party code reading arbitrary files.
	defer func() {
		if p := recover(); p != nil {
			err = &SyntaxError{Path: f.Path, Err: fmt.Errorf("parser panicked: %v", p)}
		}
	}()
	switch f.Type {
	case sr.TypeAvro:
		return parseAvro(f)
	case sr.TypeProtobuf:
		return parseProtobuf(fsys, f)
	case sr.TypeJSON:
		return parseJSONSchema(f)
	}
	return &SyntaxError{Path: f.Path, Err: fmt.Errorf("unknown schema type %v", f.Type)}
}

// ParseAvro parses Avro schema text, with a schema cache of its own so
// that named types never leak between schemas.
func ParseAvro(text string) (avro.Schema, error) {
	return avro.ParseWithCache(text, "", &avro.SchemaCache{})
}

func parseAvro(f *File) error {
	data := []byte(f.Text)
	if err := jsonSyntax(f.Path, data); err != nil {
		return err
	}
	s, err := ParseAvro(f.Text)
	if err != nil {
		se := &SyntaxError{Path: f.Path, Err: err}
		if off, ok := locateAvroError(data, err.Error()); ok {
			se.Line, se.Column = lineCol(data, off)
		}
		return se
	}
	f.avro = s
	if n, ok := s.(avro.NamedSchema); ok {
		f.Record = n.FullName()
	}
	return nil
}

func parseProtobuf(fsys fs.FS, f *File) error {
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: func(p string) (io.ReadCloser, error) {
				if p == f.Path {
					return io.NopCloser(strings.NewReader(f.Text)), nil
				}
				return fsys.Open(p)
			},
		}),
		MaxParallelism: 1,
	}
	files, err := c.Compile(context.Background(), f.Path)
	if err != nil {
		se := &SyntaxError{Path: f.Path, Err: err}
		var ewp reporter.ErrorWithPos
		if errors.As(err, &ewp) {
			pos := ewp.GetPosition()
			se.Err = ewp.Unwrap()
			if pos.Filename == f.Path {
				se.Line, se.Column = pos.Line, pos.Col
			} else {
				se.Err = fmt.Errorf("in imported file %s:%d:%d: %w", pos.Filename, pos.Line, pos.Col, se.Err)
			}
		}
		return se
	}
	if msgs := files[0].Messages(); msgs.Len() > 0 {
		f.Record = string(msgs.Get(0).FullName())
	}
	return nil
}

// noLoader refuses every document a JSON Schema refers to: schemas are
// checked self-contained, and nothing is fetched.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("not loading %s: references to other documents are not resolved", url)
}

func parseJSONSchema(f *File) error {
	data := []byte(f.Text)
	if err := jsonSyntax(f.Path, data); err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return &SyntaxError{Path: f.Path, Err: err}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	const url = "file:///schemaproxy/schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return &SyntaxError{Path: f.Path, Err: err}
	}
	if _, err := c.Compile(url); err != nil {
		se := &SyntaxError{Path: f.Path, Err: err}
		var sve *jsonschema.SchemaValidationError
		if errors.As(err, &sve) {
			if ve, ok := sve.Err.(*jsonschema.ValidationError); ok {
				for len(ve.Causes) > 0 {
					ve = ve.Causes[0]
				}
				se.Err = fmt.Errorf("not a valid JSON Schema: %s", ve.Error())
				if off, ok := locatePointer(data, ve.InstanceLocation); ok {
					se.Line, se.Column = lineCol(data, off)
				}
			}
		}
		return se
	}
	if obj, ok := doc.(map[string]any); ok {
		f.Record, _ = obj["title"].(string)
	}
	return nil
}

// jsonSyntax reports data that is not one well-formed JSON value, with
// the line and column encoding/json stopped at.
func jsonSyntax(p string, data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	if err == nil {
		return nil
	}
	se := &SyntaxError{Path: p, Err: fmt.Errorf("invalid JSON: %w", err)}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := int(syn.Offset) - 1 // Offset counts the bytes read, the bad one included
		if off < 0 || syn.Offset >= int64(len(data)) {
			off = min(int(syn.Offset), len(data)) // the end of the file
		}
		se.Line, se.Column = lineCol(data, off)
	}
	return se
}

// lineCol turns a byte offset into a 1-based line and column (in bytes).
func lineCol(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// avroErrorNeedles find, in the text of a schema hamba/avro refused, what
// its message names; hamba reports no positions.
var avroErrorNeedles = []struct {
	re   *regexp.Regexp
	find func(name string) string // the text to look for
	last bool                     // the last occurrence (a duplicate), not the first
}{
	{regexp.MustCompile(`unknown type: ([^{\[\s]+)$`), quoted, false},
	{regexp.MustCompile(`duplicate field name "([^"]+)"`), fieldName, true},
	{regexp.MustCompile(`invalid default for field ([^ ]+)\. `), fieldName, false},
	{regexp.MustCompile(`'([^']+)' field must have a non-empty default`), fieldName, false},
	{regexp.MustCompile(`field "([^"]+)" order`), fieldName, false},
	{regexp.MustCompile(`duplicate symbol "([^"]+)"`), quoted, true},
	{regexp.MustCompile(`invalid symbol "([^"]+)"`), quoted, false},
	{regexp.MustCompile(`invalid name part "([^"]+)"`), quoted, false},
	{regexp.MustCompile(`invalid name "([^"]+)"`), quoted, false},
}

func quoted(name string) string    { return strconv.Quote(name) }
func fieldName(name string) string { return `"name":` + strconv.Quote(name) }

// locateAvroError returns the offset of what an Avro parse error names.
func locateAvroError(data []byte, msg string) (int, bool) {
	for _, n := range avroErrorNeedles {
		m := n.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		return findNeedle(data, n.find(m[1]), n.last)
	}
	return 0, false
}

// findNeedle finds needle in data, ignoring the whitespace JSON allows
// between a key's colon and its value.
func findNeedle(data []byte, needle string, last bool) (int, bool) {
	key, value, isPair := strings.Cut(needle, ":")
	pattern := regexp.QuoteMeta(needle)
	if isPair {
		pattern = regexp.QuoteMeta(key) + `\s*:\s*` + regexp.QuoteMeta(value)
	}
	all := regexp.MustCompile(pattern).FindAllIndex(data, -1)
	if len(all) == 0 {
		return 0, false
	}
	if last {
		return all[len(all)-1][0], true
	}
	return all[0][0], true
}

// locatePointer returns the offset of the value a JSON pointer (already
// split into unescaped tokens) selects in data, a well-formed document.
func locatePointer(data []byte, ptr []string) (int, bool) {
	l := pointerLocator{dec: json.NewDecoder(bytes.NewReader(data)), data: data, ptr: ptr, found: -1}
	if err := l.value(0, true); err != nil || l.found < 0 {
		return 0, false
	}
	return l.found, true
}

type pointerLocator struct {
	dec   *json.Decoder
	data  []byte
	ptr   []string
	found int
}

// value reads one value at depth; match says the path to it so far is a
// prefix of the pointer.
func (l *pointerLocator) value(depth int, match bool) error {
	if match && depth == len(l.ptr) && l.found < 0 {
		l.found = l.skipSeparators(int(l.dec.InputOffset()))
	}
	tok, err := l.dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		for l.dec.More() {
			key, err := l.dec.Token()
			if err != nil {
				return err
			}
			k, _ := key.(string)
			if err := l.value(depth+1, match && depth < len(l.ptr) && l.ptr[depth] == k); err != nil {
				return err
			}
		}
		_, err = l.dec.Token()
	case json.Delim('['):
		for i := 0; l.dec.More(); i++ {
			if err := l.value(depth+1, match && depth < len(l.ptr) && l.ptr[depth] == strconv.Itoa(i)); err != nil {
				return err
			}
		}
		_, err = l.dec.Token()
	}
	return err
}

// skipSeparators moves an offset past whitespace, colons and commas, to
// where the next value starts.
func (l *pointerLocator) skipSeparators(off int) int {
	for off < len(l.data) {
		switch l.data[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
		default:
			return off
		}
	}
	return off
}
