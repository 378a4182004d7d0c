package payload

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// jsonTestDrafts are the "$schema" values the table runs under; "" is
// none (draft-07).
var jsonTestDrafts = []string{
	"",
	"http://json-schema.org/draft-07/schema#",
	"https://json-schema.org/draft/2019-09/schema",
	"https://json-schema.org/draft/2020-12/schema",
}

// jsonOrderSchema is an order with a local definition, a reference by
// name and one into a referenced schema's definitions.
func jsonOrderSchema(draft string) string {
	defs := "definitions"
	if strings.Contains(draft, "/draft/") {
		defs = "$defs"
	}
	head := ""
	if draft != "" {
		head = fmt.Sprintf(`"$schema": %q,`, draft)
	}
	return `{` + head + `
	"title": "Order",
	"type": "object",
	"properties": {
		"id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
		"amount": {"type": "number", "minimum": 0},
		"price": {"$ref": "money.json#/definitions/price"},
		"currency": {"enum": ["EUR", "USD"]},
		"items": {"type": "array", "items": {"$ref": "#/` + defs + `/item"}},
		"address": {"$ref": "address.json"},
		"matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
		"note": {"oneOf": [{"type": "null"}, {"type": "string", "maxLength": 10}]},
		"odd key": {"type": "boolean"},
		"7": {"type": "boolean"}
	},
	"required": ["id", "amount"],
	"additionalProperties": false,
	"` + defs + `": {
		"item": {
			"type": "object",
			"properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
			"required": ["name"]
		}
	}
}`
}

var jsonOrderRefs = map[string]string{
	"address.json": `{
		"type": "object",
		"properties": {"street": {"type": "string"}, "zip": {"type": "string", "minLength": 4}},
		"required": ["zip"],
		"additionalProperties": false
	}`,
	"money.json": `{"definitions": {"price": {"type": "number", "multipleOf": 0.01, "exclusiveMinimum": 0}}}`,
}

// jsonCases run under every draft. want is the exact error, "" valid.
var jsonCases = []struct {
	name, data, want string
}{
	{"minimal", `{"id":"ABC-1","amount":0}`, ""},
	{"full", `{"id":"ABC-1","amount":12.5,"price":19.99,"currency":"EUR",
		"items":[{"name":"a","qty":1},{"name":"b"}],"address":{"street":"Main","zip":"1234"},
		"matrix":[[1,2],[],[3]],"note":null,"odd key":true,"7":false}`, ""},
	{"whitespace around", " \t\r\n{\"id\":\"ABC-1\",\"amount\":1}\n\n", ""},
	{"escapes", `{"id":"\u0041BC-1","amount":1,"note":"\ud83d\ude00\n\"\\\/"}`, ""},
	{"integer written 1.0", `{"id":"ABC-1","amount":1,"items":[{"name":"a","qty":1.0}]}`, ""},
	{"exact multipleOf", `{"id":"ABC-1","amount":1,"price":0.07}`, ""},
	{"note at max length", `{"id":"ABC-1","amount":1,"note":"äöüßéèêëïî"}`, ""},

	{"missing required", `{"amount":1}`, "$: missing property 'id'"},
	{"missing two", `{}`, "$: missing properties 'id', 'amount'"},
	{"wrong type", `{"id":"ABC-1","amount":"12.50"}`, "$.amount: must be number, got string"},
	{"minimum", `{"id":"ABC-1","amount":-0.01}`, "$.amount: must be >= 0"},
	{"enum", `{"id":"ABC-1","amount":1,"currency":"GBP"}`, `$.currency: must be one of "EUR", "USD"`},
	{"additional property", `{"id":"ABC-1","amount":1,"extra":1}`, "$: property 'extra' is not allowed"},
	{"additional properties", `{"id":"ABC-1","amount":1,"z":1,"a b":2}`, "$: properties 'a b', 'z' are not allowed"},
	{"pattern", `{"id":"abc-1","amount":1}`, "$.id: must match pattern '^[A-Z]{3}-[0-9]+$'"},
	{"nested arrays", `{"id":"ABC-1","amount":1,"matrix":[[1,2],[3,"4"]]}`, "$.matrix[1][1]: must be integer, got string"},
	{"nested arrays fraction", `{"id":"ABC-1","amount":1,"matrix":[[1.5]]}`, "$.matrix[0][0]: must be integer, got number"},
	{"ref to definition", `{"id":"ABC-1","amount":1,"items":[{"name":"a"},{"name":"b"},{"qty":2}]}`, "$.items[2]: missing property 'name'"},
	{"ref to definition field", `{"id":"ABC-1","amount":1,"items":[{"name":"a","qty":0}]}`, "$.items[0].qty: must be >= 1"},
	{"ref by name", `{"id":"ABC-1","amount":1,"address":{"street":"Main"}}`, "$.address: missing property 'zip'"},
	{"ref by name field", `{"id":"ABC-1","amount":1,"address":{"zip":"12"}}`, "$.address.zip: must be at least 4 characters long, is 2"},
	{"ref by name additional", `{"id":"ABC-1","amount":1,"address":{"zip":"1234","city":"X"}}`, "$.address: property 'city' is not allowed"},
	{"ref into referenced definitions", `{"id":"ABC-1","amount":1,"price":0}`, "$.price: must be > 0"},
	{"exact multipleOf fails", `{"id":"ABC-1","amount":1,"price":19.999}`, "$.price: must be a multiple of 0.01"},
	{"oneOf no type matches", `{"id":"ABC-1","amount":1,"note":5}`, "$.note: must be null or string, got number"},
	{"oneOf the string branch", `{"id":"ABC-1","amount":1,"note":"much too long"}`, "$.note: must be at most 10 characters long, is 13"},
	{"odd key", `{"id":"ABC-1","amount":1,"odd key":1}`, "$['odd key']: must be boolean, got number"},
	{"numeric key", `{"id":"ABC-1","amount":1,"7":1}`, "$['7']: must be boolean, got number"},
	{"deepest failure wins", `{"amount":-1,"items":[{"name":1}]}`, "$.items[0].name: must be string, got number"},
	{"top level not an object", `[1]`, "$: must be object, got array"},

	{"trailing bytes", `{"id":"ABC-1","amount":1} xyz`, "$: invalid JSON at byte 26: 3 bytes after the JSON value"},
	{"two values", `{"id":"ABC-1","amount":1}{"id":"ABC-2","amount":2}`, "$: invalid JSON at byte 25: 25 bytes after the JSON value"},
	{"truncated", `{"id":"ABC-1","amount":`, "$: invalid JSON at byte 23: unexpected end of input, want a value"},
	{"truncated string", `{"id":"ABC`, `$: invalid JSON at byte 10: unexpected end of input, want '"' to end the string`},
	{"trailing comma", `{"id":"ABC-1","amount":1,}`, "$: invalid JSON at byte 25: unexpected '}', want a string (an object key)"},
	{"invalid UTF-8", "{\"id\":\"AB\xffC-1\",\"amount\":1}", "$: invalid JSON at byte 9: invalid UTF-8 in a string"},
	{"raw newline in string", "{\"id\":\"ABC\n-1\",\"amount\":1}", "$: invalid JSON at byte 10: control character 0x0a in a string (must be escaped)"},
	{"duplicate key", `{"id":"ABC-1","amount":-5,"amount":5}`, "$: invalid JSON at byte 26: duplicate key 'amount'"},
	{"leading zero", `{"id":"ABC-1","amount":01}`, "$: invalid JSON at byte 23: number with a leading zero"},
	{"bad literal", `{"id":"ABC-1","amount":1,"note":nul}`, "$: invalid JSON at byte 35: unexpected '}' in 'null'"},
	{"empty payload", ``, "$: invalid JSON at byte 0: empty payload"},
	{"only whitespace", " \n", "$: invalid JSON at byte 2: only whitespace, no value"},
	{"BOM", "\xef\xbb\xbf{}", "$: invalid JSON at byte 0: unexpected byte 0xef, want a value"},
	{"huge exponent", `{"id":"ABC-1","amount":1e1001}`, "$: number at byte 23 has an exponent beyond 1000: too large to check exactly"},
	{"long number", `{"id":"ABC-1","amount":1` + strings.Repeat("0", 100) + `}`, "$: number at byte 23 is longer than 100 bytes: too long to check exactly"},
}

func TestJSONValidate(t *testing.T) {
	t.Parallel()
	for _, draft := range jsonTestDrafts {
		name := draft
		if name == "" {
			name = "no $schema"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := NewJSON(jsonOrderSchema(draft), jsonOrderRefs)
			if err != nil {
				t.Fatalf("NewJSON: %v", err)
			}
			for _, tc := range jsonCases {
				err := v.Validate([]byte(tc.data), nil, Options{})
				if tc.want == "" {
					if err != nil {
						t.Errorf("%s: got %v, want valid", tc.name, err)
					}
					continue
				}
				var pe *Error
				if !errors.As(err, &pe) {
					t.Errorf("%s: got %v (%T), want *Error %q", tc.name, err, err, tc.want)
					continue
				}
				if got := pe.Error(); got != tc.want {
					t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
				}
			}
		})
	}
}

// The indexes and options only apply to Protobuf.
func TestJSONValidateIgnoresIndexesAndOptions(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(`{"type":"integer"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte("7"), []int{3, 1}, Options{AllowUnknownFields: true}); err != nil {
		t.Errorf("got %v, want valid", err)
	}
	if err := v.Validate([]byte(`"7"`), []int{3, 1}, Options{}); err == nil || err.Error() != "$: must be integer, got string" {
		t.Errorf("got %v, want $: must be integer, got string", err)
	}
}

func TestJSONDepth(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(`{}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	arrays := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	objects := func(n int) []byte {
		return []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"arrays at the limit", arrays(MaxDepth), ""},
		{"objects at the limit", objects(MaxDepth), ""},
		{"arrays past the limit", arrays(MaxDepth + 1), "$: JSON nested deeper than 100 levels at byte 100"},
		{"objects past the limit", objects(MaxDepth + 1), "$: JSON nested deeper than 100 levels at byte 500"},
		{"bomb", arrays(1 << 20), "$: JSON nested deeper than 100 levels at byte 100"},
		{"unclosed bomb", []byte(strings.Repeat("[", 1<<20)), "$: JSON nested deeper than 100 levels at byte 100"},
	} {
		err := v.Validate(tc.data, nil, Options{})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// jsonBoundaryCases are payloads exactly at each limit of jsonParse and one
// past it, valid against any schema when they parse; want is "" for a
// payload within the limits. Plain nesting of arrays and of objects is in
// TestJSONDepth.
func jsonBoundaryCases() []struct{ name, data, want string } {
	digits := func(n int) string { return "1" + strings.Repeat("0", n-1) }
	// Objects holding arrays, 2 levels a pair, around a last level.
	mixed := func(pairs int, last string) string {
		return strings.Repeat(`{"a":[`, pairs) + last + strings.Repeat("]}", pairs)
	}
	// Siblings at the deepest level, closed in every way a level closes.
	siblings := strings.Repeat("[", MaxDepth-1) + `[],{},[1,2],{"a":1,"b":2},[],{}` + strings.Repeat("]", MaxDepth-1)
	return []struct{ name, data, want string }{
		{"objects and arrays at the depth limit", mixed(MaxDepth/2, ""), ""},
		{"objects and arrays one past the depth limit", mixed(MaxDepth/2, "[]"), "$: JSON nested deeper than 100 levels at byte 300"},
		{"closed siblings at the depth limit", siblings, ""},
		{"number of 100 bytes", digits(100), ""},
		{"number of 101 bytes", digits(101), "$: number at byte 0 is longer than 100 bytes: too long to check exactly"},
		{"negative number of 100 bytes", "-" + digits(99), ""},
		{"negative number of 101 bytes", "-" + digits(100), "$: number at byte 0 is longer than 100 bytes: too long to check exactly"},
		{"fraction and exponent in 100 bytes", "0." + digits(92) + "e-1000", ""},
		{"fraction and exponent in 101 bytes", "0." + digits(93) + "e-1000", "$: number at byte 0 is longer than 100 bytes: too long to check exactly"},
		{"number of 100 bytes in an array", "[" + digits(100) + "]", ""},
		{"exponent 1000", "1e1000", ""},
		{"exponent 1001", "1e1001", "$: number at byte 0 has an exponent beyond 1000: too large to check exactly"},
		{"exponent +1000", "1E+1000", ""},
		{"exponent -1000", "-1e-1000", ""},
		{"exponent -1001", "-1e-1001", "$: number at byte 0 has an exponent beyond 1000: too large to check exactly"},
		{"exponent 1000 with leading zeros", "1e0001000", ""},
		{"exponent 10000", "1e10000", "$: number at byte 0 has an exponent beyond 1000: too large to check exactly"},
		{"exponent 2^64, 0 if it wrapped", "1e18446744073709551616", "$: number at byte 0 has an exponent beyond 1000: too large to check exactly"},
	}
}

func TestJSONBoundaries(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(`{}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range jsonBoundaryCases() {
		got := ""
		if err := v.Validate([]byte(tc.data), nil, Options{}); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Numbers are compared exactly, not as float64s.
func TestJSONExactNumbers(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(`{"type":"number","maximum":0.3}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte("0.3"), nil, Options{}); err != nil {
		t.Errorf("0.3: got %v, want valid", err)
	}
	// Equal to 0.3 as a float64, but greater.
	if err := v.Validate([]byte("0.30000000000000001"), nil, Options{}); err == nil || err.Error() != "$: must be <= 0.3" {
		t.Errorf("0.30000000000000001: got %v, want $: must be <= 0.3", err)
	}
	v, err = NewJSON(`{"type":"integer","maximum":9007199254740993}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate([]byte("9007199254740994"), nil, Options{}); err == nil || err.Error() != "$: must be <= 9007199254740993" {
		t.Errorf("2^53+2: got %v, want $: must be <= 9007199254740993", err)
	}
	if err := v.Validate([]byte("-1e1000"), nil, Options{}); err != nil {
		t.Errorf("-1e1000: got %v, want valid", err)
	}
}

// Without "$schema" the dialect is draft-07, which asserts "format";
// 2019-09 and 2020-12 treat it as an annotation, as Confluent's
// validators do.
func TestJSONDraftsAndFormat(t *testing.T) {
	t.Parallel()
	const body = `"type":"object","properties":{"at":{"type":"string","format":"date-time"}},
		"dependentRequired":{"a":["b"]}`
	for _, tc := range []struct {
		draft      string
		wantFormat string // error for a bad date-time, "" none
		wantDep    string // error for "a" without "b", "" none
	}{
		{"", "$.at: must be a valid date-time", ""},
		{"http://json-schema.org/draft-07/schema#", "$.at: must be a valid date-time", ""},
		{"http://json-schema.org/draft-04/schema#", "$.at: must be a valid date-time", ""},
		{"https://json-schema.org/draft/2019-09/schema", "", "$: missing property 'b', required with 'a'"},
		{"https://json-schema.org/draft/2020-12/schema", "", "$: missing property 'b', required with 'a'"},
	} {
		schema := "{" + body + "}"
		if tc.draft != "" {
			schema = fmt.Sprintf(`{"$schema":%q,%s}`, tc.draft, body)
		}
		v, err := NewJSON(schema, nil)
		if err != nil {
			t.Fatalf("%q: NewJSON: %v", tc.draft, err)
		}
		for _, c := range []struct{ data, want string }{
			{`{"at":"2024-02-30T25:00:00Z"}`, tc.wantFormat},
			{`{"at":"2024-02-29T23:59:59.5+01:00"}`, ""},
			{`{"a":1}`, tc.wantDep},
		} {
			err := v.Validate([]byte(c.data), nil, Options{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("%q %s: got %q, want %q", tc.draft, c.data, got, c.want)
			}
		}
	}
}

// References resolve against the main schema's "$id" when it has one,
// and absolute reference names are found by their URI.
func TestJSONReferenceNames(t *testing.T) {
	t.Parallel()
	const addr = `{"type":"object","required":["zip"],"definitions":{"zip":{"type":"string","minLength":4}}}`
	for _, tc := range []struct {
		name   string
		schema string
		refs   map[string]string
	}{
		{"relative name, no $id", `{"properties":{"a":{"$ref":"address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": addr}},
		{"relative name, $id", `{"$id":"https://example.com/schemas/order.json","properties":{"a":{"$ref":"address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": addr}},
		{"absolute name, $id", `{"$id":"https://example.com/schemas/order.json","properties":{"a":{"$ref":"address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"https://example.com/schemas/address.json": addr}},
		{"absolute name, no $id", `{"properties":{"a":{"$ref":"https://example.com/address.json"},"z":{"$ref":"https://example.com/address.json#/definitions/zip"}}}`,
			map[string]string{"https://example.com/address.json": addr}},
		{"dot-slash name", `{"properties":{"a":{"$ref":"./address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": addr}},
		{"path name", `{"properties":{"a":{"$ref":"common/address.json"},"z":{"$ref":"common/address.json#/definitions/zip"}}}`,
			map[string]string{"common/address.json": addr}},
		{"2020-12", `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"a":{"$ref":"address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": addr}},
		{"chained", `{"properties":{"a":{"$ref":"wrapper.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": addr, "wrapper.json": `{"$ref":"address.json"}`}},
		{"by the reference's $id", `{"properties":{"a":{"$ref":"https://example.com/address.json"},"z":{"$ref":"address.json#/definitions/zip"}}}`,
			map[string]string{"address.json": `{"$id":"https://example.com/address.json",` + addr[1:]}},
		{"self by $id", `{"$id":"https://example.com/order.json","properties":{"a":{"$ref":"address.json"},"z":{"$ref":"https://example.com/order.json#/definitions/zip"}},"definitions":{"zip":{"type":"string","minLength":4}}}`,
			map[string]string{"address.json": addr}},
	} {
		v, err := NewJSON(tc.schema, tc.refs)
		if err != nil {
			t.Errorf("%s: NewJSON: %v", tc.name, err)
			continue
		}
		for _, c := range []struct{ data, want string }{
			{`{"a":{"zip":"1234"},"z":"5678"}`, ""},
			{`{"a":{}}`, "$.a: missing property 'zip'"},
			{`{"z":"123"}`, "$.z: must be at least 4 characters long, is 3"},
		} {
			err := v.Validate([]byte(c.data), nil, Options{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("%s %s: got %q, want %q", tc.name, c.data, got, c.want)
			}
		}
	}
}

// A "$ref" to a document that is not among the references fails to
// compile, naming the URL, and is never fetched.
func TestJSONUnknownReference(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"type":"string"}`)
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "address.json")
	if err := os.WriteFile(file, []byte(`{"type":"string"}`), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, ref, url string }{
		{"http", srv.URL + "/address.json#/definitions/x", srv.URL + "/address.json"},
		{"file", "file://" + file, "file://" + file},
		{"relative", "address.json", "mem://input/address.json"},
		{"unlisted sibling", "other.json", "mem://input/other.json"},
	} {
		refs := map[string]string{"listed.json": `{}`}
		_, err := NewJSON(fmt.Sprintf(`{"properties":{"a":{"$ref":%q}}}`, tc.ref), refs)
		want := "JSON Schema: $ref to " + tc.url + ", which is not among the schema's references (references are never fetched)"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", tc.name, err, want)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestJSONSchemaErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, schema string
		refs         map[string]string
		want         string
		unsupported  bool
	}{
		{"not JSON", `{"type":`, nil, "JSON Schema: invalid JSON: unexpected EOF", false},
		{"bad type", `{"type":"strin"}`, nil, "invalid JSON Schema at /type: must be one of", false},
		{"missing definition", `{"$ref":"#/definitions/nope"}`, nil, "JSON Schema: json-pointer in \"mem://input/#/definitions/nope\" not found", false},
		{"lookahead", `{"pattern":"^(?!x)"}`, nil, "JSON Schema pattern at /pattern: must be a valid regex", true},
		{"draft-03", `{"$schema":"http://json-schema.org/draft-03/schema#"}`, nil, `JSON Schema $schema "http://json-schema.org/draft-03/schema#" is not draft-04`, true},
		{"reference draft-03", `{"$ref":"a.json"}`, map[string]string{"a.json": `{"$schema":"http://json-schema.org/draft-03/schema#"}`}, `JSON Schema reference "a.json": $schema "http://json-schema.org/draft-03/schema#" is not draft-04`, true},
		{"ref not JSON", `{"$ref":"a.json"}`, map[string]string{"a.json": `{`}, `JSON Schema reference "a.json": invalid JSON`, false},
		{"refs clash", `{}`, map[string]string{"a.json": `{}`, "./a.json": `{"type":"string"}`}, `JSON Schema references "./a.json" and "a.json" both resolve to mem://input/a.json but differ`, false},
	} {
		_, err := NewJSON(tc.schema, tc.refs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", tc.name, err)
		}
		if got := errors.Is(err, ErrUnsupported); got != tc.unsupported {
			t.Errorf("%s: errors.Is(ErrUnsupported) = %v, want %v", tc.name, got, tc.unsupported)
		}
	}
	// The same reference under two names that resolve alike is fine.
	if _, err := NewJSON(`{"$ref":"a.json"}`, map[string]string{"a.json": `{}`, "./a.json": `{}`}); err != nil {
		t.Errorf("same reference twice: %v", err)
	}
}

// Messages stay short and on one line whatever the payload holds.
func TestJSONMessages(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 1000)
	for _, tc := range []struct {
		name, schema, data, want string
	}{
		{"long key", `{"additionalProperties":false}`, `{"` + long + `":1}`,
			"$: property '" + strings.Repeat("k", 64) + "...' is not allowed"},
		{"key with newline and quote", `{"additionalProperties":false}`, `{"a\n'b":1}`,
			`$: property 'a\n\'b' is not allowed`},
		{"path with quote", `{"properties":{"it's":{"type":"string"}}}`, `{"it's":1}`,
			`$['it\'s']: must be string, got number`},
		{"many enum values", `{"enum":[1,2,3,4,5,6,7,8,9,10,11]}`, `0`, "$: must be one of the 11 enum values"},
		{"object enum", `{"enum":[{"a":1},2]}`, `0`, "$: must equal one of the enum values"},
		{"const", `{"const":"x"}`, `"y"`, `$: must be "x"`},
		{"unique", `{"uniqueItems":true}`, `[1,2,1.0]`, "$: items 0 and 2 are equal, must be unique"},
		{"not", `{"not":{"type":"string"}}`, `"s"`, "$: must not match the not schema"},
		{"false schema", `{"items":false}`, `[1]`, "$[0]: not allowed by the schema"},
		{"oneOf both", `{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `1`, "$: must match exactly one oneOf schema, matches 0 and 1"},
		{"anyOf consts", `{"anyOf":[{"const":"a"},{"const":"b"}]}`, `"c"`, "$: must match one of the 2 anyOf schemas, matches none"},
		{"maxItems", `{"maxItems":1}`, `[1,2]`, "$: must have at most 1 items, has 2"},
		{"minProperties", `{"minProperties":2}`, `{"a":1}`, "$: must have at least 2 properties, has 1"},
		{"exclusiveMaximum", `{"exclusiveMaximum":1.5}`, `1.5`, "$: must be < 1.5"},
		{"propertyNames", `{"propertyNames":{"maxLength":2}}`, `{"abc":1}`, "$: property name 'abc' does not match propertyNames"},
		{"contains", `{"contains":{"type":"string"}}`, `[1]`, "$: no item matches the contains schema"},
		{"if then", `{"if":{"required":["a"]},"then":{"required":["b"]}}`, `{"a":1}`, "$: missing property 'b'"},
		{"one-third", `{"multipleOf":0.3333333333333333333333}`, `1`, "$: must be a multiple of 0.3333333333333333"},
	} {
		v, err := NewJSON(tc.schema, nil)
		if err != nil {
			t.Errorf("%s: NewJSON: %v", tc.name, err)
			continue
		}
		err = v.Validate([]byte(tc.data), nil, Options{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestJSONConcurrent(t *testing.T) {
	t.Parallel()
	v, err := NewJSON(jsonOrderSchema(""), jsonOrderRefs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tc := jsonCases[(g+i)%len(jsonCases)]
				err := v.Validate([]byte(tc.data), nil, Options{})
				got := ""
				if err != nil {
					got = err.Error()
				}
				if got != tc.want {
					t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
					return
				}
			}
		})
	}
	wg.Wait()
}
