package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// jsonFuzzSchemas are validated against every fuzz input: the order
// table's schema (references, definitions, oneOf, exact numbers) and a
// 2020-12 schema with the keywords that walk the payload differently.
var jsonFuzzSchemas = []struct {
	schema string
	refs   map[string]string
}{
	{jsonOrderSchema(""), jsonOrderRefs},
	{`{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type": ["object", "array", "string"],
		"prefixItems": [{"type": "integer"}],
		"items": {"anyOf": [{"type": "string", "minLength": 2}, {"type": "number", "maximum": 10}]},
		"uniqueItems": true,
		"contains": {"const": 1},
		"patternProperties": {"^x-": {"type": "boolean"}},
		"propertyNames": {"maxLength": 8},
		"dependentRequired": {"a": ["b"]},
		"unevaluatedProperties": {"type": "array", "maxItems": 3},
		"if": {"type": "string"}, "then": {"format": "email", "pattern": "@"}
	}`, nil},
}

// FuzzJSONValidate checks that Validate never panics, returns only
// one-line *Errors, gives the same answer twice, parses exactly what
// encoding/json parses (bar the payloads it refuses on purpose), and
// judges an order built from the input as its construction says.
func FuzzJSONValidate(f *testing.F) {
	for _, tc := range jsonCases {
		f.Add([]byte(tc.data))
	}
	for _, tc := range jsonBoundaryCases() {
		f.Add([]byte(tc.data))
	}
	for _, s := range []string{
		`[1,"ab",3,"cd"]`, `[1,1]`, `{"x-a":true,"a":1,"b":[1,2]}`, `"me@example.com"`,
		`"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude00"`, `-0.0e-0`, `1E+2`,
		`[[[[[[[[]]]]]]]]`, `{"a":{"a":{"a":{}}}}`, "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
	} {
		f.Add([]byte(s))
	}
	vs := make([]Validator, len(jsonFuzzSchemas))
	for i, s := range jsonFuzzSchemas {
		v, err := NewJSON(s.schema, s.refs)
		if err != nil {
			f.Fatalf("schema %d: %v", i, err)
		}
		vs[i] = v
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		for i, v := range vs {
			err1 := v.Validate(data, nil, Options{})
			err2 := v.Validate(data, nil, Options{})
			if jsonErrString(err1) != jsonErrString(err2) {
				t.Fatalf("schema %d: not deterministic: %v, then %v", i, err1, err2)
			}
			if err1 != nil {
				var pe *Error
				if !errors.As(err1, &pe) {
					t.Fatalf("schema %d: got %T %v, want *Error", i, err1, err1)
				}
				if !strings.HasPrefix(pe.Path, "$") || strings.ContainsAny(pe.Error(), "\n\r") || pe.Msg == "" {
					t.Fatalf("schema %d: malformed error %q", i, pe.Error())
				}
			}
		}
		jsonFuzzParse(t, data)
		jsonFuzzOrder(t, vs[0], data)
	})
}

func jsonErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// jsonFuzzParse compares jsonParse with encoding/json.
func jsonFuzzParse(t *testing.T, data []byte) {
	got, err := jsonParse(data)
	if !utf8.Valid(data) {
		// encoding/json replaces invalid UTF-8; we refuse it.
		if err == nil {
			t.Fatalf("parsed invalid UTF-8 %q", data)
		}
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var want any
	stdErr := dec.Decode(&want)
	if stdErr == nil && len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		stdErr = errors.New("data after the value")
	}
	if stdErr != nil {
		if err == nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", data, stdErr)
		}
		return
	}
	if err != nil {
		// Refused on purpose: nesting, duplicate keys, huge numbers.
		msg := err.Error()
		for _, ok := range []string{"nested deeper", "duplicate key", "too large to check", "too long to check"} {
			if strings.Contains(msg, ok) {
				return
			}
		}
		t.Fatalf("refused %q, which encoding/json parses: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parsed %q as %#v, encoding/json as %#v", data, got, want)
	}
}

// jsonFuzzOrder builds an order from data whose validity is known by
// construction, encodes it with encoding/json and validates it.
func jsonFuzzOrder(t *testing.T, v Validator, data []byte) {
	note := strings.ToValidUTF8(string(data), "\uFFFD")
	var amount json.Number = "0"
	if len(data) > 0 {
		amount = json.Number(strconv.Itoa(int(data[0]) - 100))
	}
	items := []any{}
	for i, chunk := range bytes.Split(data, []byte{','}) {
		if i == 5 {
			break
		}
		items = append(items, map[string]any{"name": string(chunk), "qty": len(chunk)})
	}
	order := map[string]any{"id": "ABC-" + strconv.Itoa(len(data)), "amount": amount, "note": note, "items": items}

	var want string
	switch {
	case amount[0] == '-':
		want = "$.amount: must be >= 0"
	case utf8.RuneCountInString(note) > 10:
		want = "$.note: must be at most 10 characters long, is " + strconv.Itoa(utf8.RuneCountInString(note))
	}
	for i, it := range items {
		if n := it.(map[string]any)["qty"].(int); n < 1 {
			want = "$.items[" + strconv.Itoa(i) + "].qty: must be >= 1"
			break // the deepest failure, first by location
		}
	}

	for _, escapeHTML := range []bool{true, false} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escapeHTML)
		if err := enc.Encode(order); err != nil {
			t.Fatal(err)
		}
		got := jsonErrString(v.Validate(buf.Bytes(), nil, Options{}))
		if got != want {
			t.Fatalf("order from %q (%s): got %q, want %q", data, buf.Bytes(), got, want)
		}
	}
}
