package payload

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// jsonBaseURI is the base URI of a main schema without an "$id": the
// URI relative "$ref"s and reference names resolve against. Any fixed
// absolute URI would do; this one is never fetched.
const jsonBaseURI = "mem://input/"

// NewJSON compiles a validator for JSON payloads against schema, a JSON
// Schema document. refs maps each reference name (as the registry's
// schema reference "name", which is what "$ref" uses, e.g.
// "address.json" or "https://example.com/address.json") to its schema
// text; nil means no references.
//
// The dialect is the one the schema's "$schema" names: draft-04, -06,
// -07, 2019-09 or 2020-12. Without "$schema" it is draft-07, which is
// what Confluent's JSON Schema serializers assume; any other "$schema"
// is an error wrapping ErrUnsupported.
//
// "format" is asserted as Confluent's validators assert it: under
// draft-07 and earlier a string that is not, say, a valid "date-time"
// fails; under 2019-09 and 2020-12 "format" is an annotation only (unless
// the schema's meta-schema requires the format-assertion vocabulary).
// Unknown formats are ignored. The content keywords (contentEncoding,
// contentMediaType, contentSchema) are annotations only.
//
// References resolve as Confluent's JSON Schema provider resolves them
// for draft-07: each name is resolved against the main schema's "$id"
// (or, without one, against a fixed base URI), so "$ref": "address.json"
// and "$ref": "address.json#/definitions/Street" find the reference named
// "address.json", and an absolute name is found by exactly that URI. A
// reference is also found by its own "$id" when that differs from its
// name. Nothing is ever loaded from the network or the filesystem: a
// "$ref" to any other document makes NewJSON fail with an error naming
// the URL.
//
// Patterns are Go (RE2) regular expressions, which lack lookaround and
// backreferences: a schema using them fails with an error wrapping
// ErrUnsupported.
//
// Validate takes exactly one JSON value, with only whitespace around it,
// and compares its numbers exactly (1.0 is an integer; 0.30000000000000001
// is above a maximum of 0.3). Beyond plain JSON syntax it refuses invalid
// UTF-8, duplicate object keys (parsers disagree on which one wins),
// nesting deeper than MaxDepth, and numbers longer than 100 bytes or with
// an exponent beyond 1000, which cannot be compared exactly in bounded
// time. The Validator is safe for concurrent use.
func NewJSON(schema string, refs map[string]string) (Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("JSON Schema: invalid JSON: %w", err)
	}
	mainURL, err := jsonMainURL(doc)
	if err != nil {
		return nil, err
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(jsonNoLoader{})

	names := make([]string, 0, len(refs))
	for name := range refs {
		names = append(names, name)
	}
	slices.Sort(names)
	byURL := make(map[string]string, len(refs)) // resolved URL -> reference name
	var added []jsonRef
	for _, name := range names {
		u, err := jsonResolve(mainURL, name)
		if err != nil {
			return nil, fmt.Errorf("JSON Schema reference %q: not a URI reference: %w", name, err)
		}
		if u == mainURL {
			return nil, fmt.Errorf("JSON Schema reference %q resolves to %s, the schema's own URI", name, u)
		}
		if prev, ok := byURL[u]; ok {
			if refs[prev] != refs[name] {
				return nil, fmt.Errorf("JSON Schema references %q and %q both resolve to %s but differ", prev, name, u)
			}
			continue
		}
		rdoc, err := jsonschema.UnmarshalJSON(strings.NewReader(refs[name]))
		if err != nil {
			return nil, fmt.Errorf("JSON Schema reference %q: invalid JSON: %w", name, err)
		}
		if err := c.AddResource(u, rdoc); err != nil {
			return nil, fmt.Errorf("JSON Schema reference %q: %w", name, err)
		}
		byURL[u] = name
		added = append(added, jsonRef{name, u, rdoc})
	}
	// A reference is also found by its own "$id", when that differs from
	// where its name put it and no other reference is there.
	for _, r := range added {
		id, ok := jsonID(r.doc)
		if !ok {
			continue
		}
		u, err := jsonResolve(r.url, id)
		if err != nil {
			return nil, fmt.Errorf("JSON Schema reference %q: $id %q is not a URI reference: %w", r.name, id, err)
		}
		if _, taken := byURL[u]; taken || u == mainURL {
			continue
		}
		if err := c.AddResource(u, r.doc); err != nil {
			return nil, fmt.Errorf("JSON Schema reference %q: %w", r.name, err)
		}
		byURL[u] = r.name
	}
	if err := jsonCheckDialect(doc, byURL, "JSON Schema"); err != nil {
		return nil, err
	}
	for _, r := range added {
		if err := jsonCheckDialect(r.doc, byURL, fmt.Sprintf("JSON Schema reference %q:", r.name)); err != nil {
			return nil, err
		}
	}
	if err := c.AddResource(mainURL, doc); err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	sch, err := c.Compile(mainURL)
	if err != nil {
		return nil, jsonCompileError(err)
	}
	return &jsonValidator{sch: sch}, nil
}

// jsonValidator validates JSON payloads against one compiled schema.
type jsonValidator struct {
	sch *jsonschema.Schema
}

// Validate parses data as exactly one JSON value (see jsonParse) and
// validates it. indexes and opts do not apply to JSON and are ignored.
// Errors are *Error with a JSONPath-like Path ("$", "$.amount",
// "$.items[2].name", "$['odd key']") and a one-line Msg: of all the
// ways the payload fails, the most specific (deepest) one.
func (v *jsonValidator) Validate(data []byte, _ []int, _ Options) error {
	inst, err := jsonParse(data)
	if err != nil {
		return err
	}
	err = v.sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Error{Path: "$", Msg: jsonOneLine(err.Error())}
	}
	c := jsonCauseOf(ve, false)
	return &Error{Path: jsonPath(inst, c.loc), Msg: c.msg}
}

// jsonNoLoader refuses to load any document: the references a schema may
// use are added to the compiler beforehand, so anything else it asks for
// is a reference the registry did not list.
type jsonNoLoader struct{}

func (jsonNoLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("%s is not among the schema's references (references are never fetched)", u)
}

// jsonRef is a reference added under its name, to be added under its
// "$id" too.
type jsonRef struct {
	name, url string
	doc       any
}

// jsonID returns a schema's top-level "$id" ("id" in draft-04).
func jsonID(doc any) (string, bool) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := obj["$id"].(string)
	if !ok {
		if s, _ := obj["$schema"].(string); strings.Contains(s, "draft-04") {
			id, ok = obj["id"].(string)
		}
	}
	return id, ok && id != ""
}

// jsonMainURL is the URI of the main schema: its "$id" resolved against
// jsonBaseURI, or jsonBaseURI.
func jsonMainURL(doc any) (string, error) {
	id, ok := jsonID(doc)
	if !ok {
		return jsonBaseURI, nil
	}
	u, err := jsonResolve(jsonBaseURI, id)
	if err != nil {
		return "", fmt.Errorf("JSON Schema: $id %q is not a URI reference: %w", id, err)
	}
	return u, nil
}

// jsonResolve resolves ref against base and drops its fragment, the way
// jsonschema resolves a "$ref", so the strings compare equal.
func jsonResolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	ref, _, _ = strings.Cut(ref, "#")
	r, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	res := b.ResolveReference(r)
	if !r.IsAbs() && b.Opaque != "" {
		res.Opaque = b.Opaque // as jsonschema does; see go.dev/issue/66084
	}
	return res.String(), nil
}

// jsonDialects are the "$schema" URIs jsonschema knows, without scheme
// and fragment.
var jsonDialects = []string{
	"json-schema.org/schema",
	"json-schema.org/draft/2020-12/schema",
	"json-schema.org/draft/2019-09/schema",
	"json-schema.org/draft-07/schema",
	"json-schema.org/draft-06/schema",
	"json-schema.org/draft-04/schema",
}

// jsonCheckDialect refuses a "$schema" that is neither a draft the
// compiler knows nor one of the references (a custom meta-schema),
// before the compiler asks the loader for it. what names the document.
func jsonCheckDialect(doc any, refURLs map[string]string, what string) error {
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	s, ok := obj["$schema"].(string)
	if !ok {
		return nil
	}
	u, _, _ := strings.Cut(s, "#")
	if _, ok := refURLs[u]; ok {
		return nil
	}
	bare, ok := strings.CutPrefix(u, "http://")
	if !ok {
		bare, ok = strings.CutPrefix(u, "https://")
	}
	if ok && slices.Contains(jsonDialects, bare) {
		return nil
	}
	return fmt.Errorf("%w: %s $schema %q is not draft-04, -06, -07, 2019-09 or 2020-12", ErrUnsupported, what, s)
}

// jsonCompileError turns a compiler error into one line.
func jsonCompileError(err error) error {
	var sve *jsonschema.SchemaValidationError
	if errors.As(err, &sve) {
		if ve, ok := sve.Err.(*jsonschema.ValidationError); ok {
			c := jsonCauseOf(ve, true)
			msg := fmt.Sprintf("at %s: %s", jsonPointer(c.loc), c.msg)
			if f, ok := c.kind.(*kind.Format); ok && f.Want == "regex" {
				return fmt.Errorf("%w: JSON Schema pattern %s (patterns are Go RE2 regular expressions: no lookaround, no backreferences)", ErrUnsupported, msg)
			}
			return fmt.Errorf("invalid JSON Schema %s", msg)
		}
	}
	var rxe *jsonschema.InvalidRegexError
	if errors.As(err, &rxe) {
		return fmt.Errorf("%w: JSON Schema: %s (patterns are Go RE2 regular expressions: no lookaround, no backreferences)", ErrUnsupported, jsonOneLine(rxe.Error()))
	}
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) {
		return fmt.Errorf("JSON Schema: $ref to %s, which is not among the schema's references (references are never fetched)", le.URL)
	}
	return fmt.Errorf("JSON Schema: %s", jsonOneLine(err.Error()))
}

// jsonCause is the one failure an error reports: where, and what.
type jsonCause struct {
	loc  []string // instance location, as JSON pointer tokens
	msg  string
	kind jsonschema.ErrorKind // nil for a summary of several
}

// jsonCauseOf picks, from the tree of failures jsonschema returns, the
// one to report. Wrappers ($ref, allOf, groups) report their most
// specific cause: the deepest in the instance, ties broken by location
// and then message, so the pick does not depend on map order. anyOf and
// oneOf drop the alternatives that failed only on "type" (the payload
// obviously meant another one): one left is reported as if alone, none
// left reads "must be null or object, got number". detail adds what a
// "format" check said (for schema errors: the payload's values are
// never echoed).
func jsonCauseOf(e *jsonschema.ValidationError, detail bool) jsonCause {
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		if len(e.Causes) > 0 {
			return jsonDeepest(e.Causes, detail)
		}
	case *kind.AnyOf:
		return jsonAlternatives(e, "anyOf", detail)
	case *kind.OneOf:
		if len(k.Subschemas) == 0 {
			return jsonAlternatives(e, "oneOf", detail)
		}
	}
	return jsonCause{loc: e.InstanceLocation, msg: jsonKindMsg(e.ErrorKind, detail), kind: e.ErrorKind}
}

func jsonDeepest(causes []*jsonschema.ValidationError, detail bool) jsonCause {
	best := jsonCauseOf(causes[0], detail)
	for _, e := range causes[1:] {
		c := jsonCauseOf(e, detail)
		if d := len(c.loc) - len(best.loc); d > 0 ||
			d == 0 && (slices.Compare(c.loc, best.loc) < 0 ||
				slices.Equal(c.loc, best.loc) && c.msg < best.msg) {
			best = c
		}
	}
	return best
}

func jsonAlternatives(e *jsonschema.ValidationError, kw string, detail bool) jsonCause {
	var want []string
	var got string
	var rest []*jsonschema.ValidationError
	for _, c := range e.Causes {
		if t, ok := jsonTypeMismatch(c, len(e.InstanceLocation)); ok {
			for _, w := range t.Want {
				if !slices.Contains(want, w) {
					want = append(want, w)
				}
			}
			got = t.Got
			continue
		}
		rest = append(rest, c)
	}
	switch {
	case len(rest) == 1:
		return jsonCauseOf(rest[0], detail)
	case len(rest) > 1:
		// Several plausible alternatives: report the one that got
		// furthest into the payload, if one did.
		if c := jsonDeepest(rest, detail); len(c.loc) > len(e.InstanceLocation) {
			return c
		}
		return jsonCause{loc: e.InstanceLocation, msg: fmt.Sprintf("must match one of the %d %s schemas, matches none", len(e.Causes), kw)}
	case len(want) > 0:
		return jsonCause{loc: e.InstanceLocation, msg: "must be " + strings.Join(want, " or ") + ", got " + got}
	}
	return jsonCause{loc: e.InstanceLocation, msg: "must match one of the " + kw + " schemas"}
}

// jsonTypeMismatch reports whether e, through wrappers with a single
// cause, is only a "type" failure at the given depth.
func jsonTypeMismatch(e *jsonschema.ValidationError, depth int) (*kind.Type, bool) {
	for len(e.Causes) == 1 {
		switch e.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
			e = e.Causes[0]
			continue
		}
		break
	}
	t, ok := e.ErrorKind.(*kind.Type)
	return t, ok && len(e.InstanceLocation) == depth
}

// jsonKindMsg says, in one short line, what a failure means.
func jsonKindMsg(k jsonschema.ErrorKind, detail bool) string {
	switch k := k.(type) {
	case *kind.Type:
		return "must be " + strings.Join(k.Want, " or ") + ", got " + k.Got
	case *kind.Required:
		return jsonPlural(len(k.Missing), "missing property ", "missing properties ") + jsonQuoteList(k.Missing)
	case *kind.AdditionalProperties:
		props := slices.Clone(k.Properties)
		slices.Sort(props)
		return jsonPlural(len(props), "property ", "properties ") + jsonQuoteList(props) + jsonPlural(len(props), " is", " are") + " not allowed"
	case *kind.Enum:
		return jsonOneOfValues(k.Want)
	case *kind.Const:
		if s, ok := jsonScalar(k.Want); ok {
			return "must be " + s
		}
		return "must equal the const value"
	case *kind.Format:
		msg := "must be a valid " + k.Want
		if detail && k.Err != nil {
			msg += ": " + jsonOneLine(k.Err.Error())
		}
		return msg
	case *kind.Minimum:
		return "must be >= " + jsonRat(k.Want)
	case *kind.Maximum:
		return "must be <= " + jsonRat(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be > " + jsonRat(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be < " + jsonRat(k.Want)
	case *kind.MultipleOf:
		return "must be a multiple of " + jsonRat(k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long, is %d", k.Want, k.Got)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long, is %d", k.Want, k.Got)
	case *kind.Pattern:
		return "must match pattern " + jsonQuote(k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %d items, has %d", k.Want, k.Got)
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %d items, has %d", k.Want, k.Got)
	case *kind.MinProperties:
		return fmt.Sprintf("must have at least %d properties, has %d", k.Want, k.Got)
	case *kind.MaxProperties:
		return fmt.Sprintf("must have at most %d properties, has %d", k.Want, k.Got)
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal, must be unique", k.Duplicates[0], k.Duplicates[1])
	case *kind.AdditionalItems:
		return fmt.Sprintf("has %d more items than the schema allows", k.Count)
	case *kind.Dependency:
		return jsonPlural(len(k.Missing), "missing property ", "missing properties ") + jsonQuoteList(k.Missing) + ", required with " + jsonQuote(k.Prop)
	case *kind.DependentRequired:
		return jsonPlural(len(k.Missing), "missing property ", "missing properties ") + jsonQuoteList(k.Missing) + ", required with " + jsonQuote(k.Prop)
	case *kind.PropertyNames:
		return "property name " + jsonQuote(k.Property) + " does not match propertyNames"
	case *kind.Contains:
		return "no item matches the contains schema"
	case *kind.MinContains:
		return fmt.Sprintf("at least %d items must match the contains schema, %d do", k.Want, len(k.Got))
	case *kind.MaxContains:
		return fmt.Sprintf("at most %d items may match the contains schema, %d do", k.Want, len(k.Got))
	case *kind.Not:
		return "must not match the not schema"
	case *kind.FalseSchema:
		return "not allowed by the schema"
	case *kind.OneOf:
		return fmt.Sprintf("must match exactly one oneOf schema, matches %d and %d", k.Subschemas[0], k.Subschemas[1])
	case *kind.AnyOf:
		return "must match one of the anyOf schemas"
	case *kind.ContentEncoding:
		return "must be " + k.Want + " encoded"
	case *kind.ContentMediaType:
		return "must be of media type " + k.Want
	case *kind.ContentSchema:
		return "content does not match contentSchema"
	}
	// Other kinds (reference cycles, extensions): the library's words,
	// without its location prefix.
	s := (&jsonschema.ValidationError{ErrorKind: k}).Error()
	return jsonOneLine(strings.TrimPrefix(s, "at '': "))
}

func jsonPlural(n int, one, more string) string {
	if n == 1 {
		return one
	}
	return more
}

// jsonMaxListed bounds the names and values one message lists.
const jsonMaxListed = 10

func jsonQuoteList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i == jsonMaxListed {
			fmt.Fprintf(&b, " and %d more", len(names)-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(jsonQuote(n))
	}
	return b.String()
}

func jsonOneOfValues(want []any) string {
	if len(want) > jsonMaxListed {
		return fmt.Sprintf("must be one of the %d enum values", len(want))
	}
	vals := make([]string, 0, len(want))
	for _, w := range want {
		s, ok := jsonScalar(w)
		if !ok {
			return "must equal one of the enum values"
		}
		vals = append(vals, s)
	}
	if len(vals) == 1 {
		return "must be " + vals[0]
	}
	return "must be one of " + strings.Join(vals, ", ")
}

// jsonScalar shows a value from a schema as JSON when it is a scalar.
func jsonScalar(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(v), true
	case string:
		return strconv.Quote(jsonTruncate(v)), true
	case fmt.Stringer: // json.Number
		return jsonTruncate(v.String()), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// jsonRat shows a schema's number: exactly when it is a short decimal,
// else as the nearest float64.
func jsonRat(r *big.Rat) string {
	if r.IsInt() {
		return jsonTruncate(r.Num().String())
	}
	// A fraction is a finite decimal when its denominator is 2^a*5^b;
	// it then needs max(a, b) digits after the point.
	d := new(big.Int).Set(r.Denom())
	two, five := big.NewInt(2), big.NewInt(5)
	var m big.Int
	a, b := 0, 0
	for ; a <= 20 && m.Mod(d, two).Sign() == 0; a++ {
		d.Quo(d, two)
	}
	for ; b <= 20 && m.Mod(d, five).Sign() == 0; b++ {
		d.Quo(d, five)
	}
	if d.IsInt64() && d.Int64() == 1 && a <= 20 && b <= 20 {
		return r.FloatString(max(a, b))
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// jsonPath writes an instance location in JSONPath-like notation: "$",
// "$.amount", "$.items[2].name", "$['a key']". inst tells array indexes
// from object keys that look like numbers.
func jsonPath(inst any, loc []string) string {
	var b strings.Builder
	b.WriteByte('$')
	v := inst
	for _, tok := range loc {
		if arr, ok := v.([]any); ok {
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(arr) {
				b.WriteByte('[')
				b.WriteString(tok)
				b.WriteByte(']')
				v = arr[i]
				continue
			}
		}
		if obj, ok := v.(map[string]any); ok {
			v = obj[tok]
		} else {
			v = nil
		}
		if jsonIsIdent(tok) {
			b.WriteByte('.')
			b.WriteString(tok)
		} else {
			b.WriteByte('[')
			b.WriteString(jsonQuote(tok))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// jsonPointer writes a schema location as a JSON pointer.
func jsonPointer(loc []string) string {
	if len(loc) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		tok = strings.ReplaceAll(tok, "~", "~0")
		b.WriteString(jsonTruncate(strings.ReplaceAll(tok, "/", "~1")))
	}
	return b.String()
}

func jsonIsIdent(s string) bool {
	if s == "" || len(s) > jsonMaxQuoted {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// jsonMaxQuoted bounds, in bytes, a name or value shown in a message.
const jsonMaxQuoted = 64

// jsonTruncate cuts s to jsonMaxQuoted bytes (at a rune boundary) and
// marks the cut.
func jsonTruncate(s string) string {
	if len(s) <= jsonMaxQuoted {
		return s
	}
	i := jsonMaxQuoted
	for i > 0 && s[i]&0xc0 == 0x80 {
		i--
	}
	return s[:i] + "..."
}

// jsonQuote single-quotes a name for a message, escaping what would
// break the line or the quotes.
func jsonQuote(s string) string {
	q := strconv.Quote(jsonTruncate(s))
	q = strings.ReplaceAll(q[1:len(q)-1], `\"`, `"`)
	return "'" + strings.ReplaceAll(q, "'", `\'`) + "'"
}

func jsonOneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
