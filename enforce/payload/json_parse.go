package payload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on number literals. jsonschema compares numbers exactly, as
// math/big rationals, and the cost of making one grows with the square
// of its digits and with its exponent: a 1 MB payload of "1e999999"s
// would take minutes. Numbers beyond these limits are refused rather
// than rounded, since rounding changes verdicts. Serializers writing
// Java longs, doubles or ordinary BigDecimals stay far inside them.
const (
	jsonMaxNumberLen   = 100  // bytes in one number literal
	jsonMaxExponentAbs = 1000 // |e| in 1e<e>
)

// jsonParse decodes data, which must hold exactly one JSON value with
// only whitespace around it, into the types jsonschema validates:
// map[string]any, []any, string, json.Number, bool and nil. It rejects
// invalid UTF-8 (encoding/json would silently replace it), duplicate
// object keys (parsers disagree on which one wins, so a payload could
// be checked with one value and read with another), nesting deeper than
// MaxDepth, and numbers beyond the limits above. Errors are *Error with
// Path "$" and the byte offset of the problem in Msg.
func jsonParse(data []byte) (any, error) {
	p := jsonParser{data: data}
	p.skipSpace()
	if p.pos == len(data) {
		if len(data) == 0 {
			return nil, p.errAt(0, "empty payload")
		}
		return nil, p.errAt(p.pos, "only whitespace, no value")
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if n := len(data) - p.pos; n > 0 {
		if n == 1 {
			return nil, p.errAt(p.pos, "1 byte after the JSON value")
		}
		return nil, p.errAt(p.pos, fmt.Sprintf("%d bytes after the JSON value", n))
	}
	return v, nil
}

// jsonParser is a recursive-descent parser over one payload; its
// recursion is bounded by MaxDepth.
type jsonParser struct {
	data  []byte
	pos   int
	depth int
}

func (p *jsonParser) errAt(off int, msg string) error {
	return &Error{Path: "$", Msg: "invalid JSON at byte " + strconv.Itoa(off) + ": " + msg}
}

// unexpected reports the byte at p.pos (or the end of the input) where
// want was expected.
func (p *jsonParser) unexpected(want string) error {
	if p.pos >= len(p.data) {
		return p.errAt(p.pos, "unexpected end of input, want "+want)
	}
	return p.errAt(p.pos, "unexpected "+jsonByteName(p.data[p.pos])+", want "+want)
}

// jsonByteName shows a byte in a message: 'x' when printable ASCII,
// else its hex value.
func jsonByteName(c byte) string {
	if c >= 0x20 && c < 0x7f && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses the value starting at p.pos, which is not whitespace.
func (p *jsonParser) value() (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.unexpected("a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return nil, p.unexpected("a value")
	}
}

func (p *jsonParser) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.data) {
			return p.errAt(p.pos, "unexpected end of input in '"+lit+"'")
		}
		if p.data[p.pos] != lit[i] {
			return p.errAt(p.pos, "unexpected "+jsonByteName(p.data[p.pos])+" in '"+lit+"'")
		}
		p.pos++
	}
	return nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return &Error{Path: "$", Msg: fmt.Sprintf("JSON nested deeper than %d levels at byte %d", MaxDepth, p.pos)}
	}
	return nil
}

func (p *jsonParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '{'
	obj := make(map[string]any)
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return obj, nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.unexpected("a string (an object key)")
		}
		keyAt := p.pos
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, p.errAt(keyAt, "duplicate key "+jsonQuote(key))
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.unexpected("':' after an object key")
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		obj[key] = v
		done, err := p.listNext('}', "',' or '}' in an object")
		if err != nil {
			return nil, err
		}
		if done {
			return obj, nil
		}
	}
}

func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '['
	arr := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return arr, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		done, err := p.listNext(']', "',' or ']' in an array")
		if err != nil {
			return nil, err
		}
		if done {
			return arr, nil
		}
	}
}

// listNext reads what follows a member or element: a ',' (more follow)
// or end, which closes the object or array (done). Anything else is the
// error want names.
func (p *jsonParser) listNext(end byte, want string) (done bool, err error) {
	p.skipSpace()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
			return false, nil
		case end:
			p.pos++
			p.depth--
			return true, nil
		}
	}
	return false, p.unexpected(want)
}

// str parses the string starting at the '"' at p.pos. Strings without
// escapes are copied once; escapes take the slow path.
func (p *jsonParser) str() (string, error) {
	start := p.pos + 1
	for i := start; i < len(p.data); {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			return string(p.data[start:i]), nil
		case c == '\\':
			return p.strEscaped(start, i)
		case c < 0x20:
			return "", p.errAt(i, fmt.Sprintf("control character 0x%02x in a string (must be escaped)", c))
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errAt(i, "invalid UTF-8 in a string")
			}
			i += size
		}
	}
	p.pos = len(p.data)
	return "", p.unexpected("'\"' to end the string")
}

// strEscaped continues str from the first backslash, at i.
func (p *jsonParser) strEscaped(start, i int) (string, error) {
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, p.data[start:i]...)
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(buf), nil
		case c == '\\':
			if i+1 >= len(p.data) {
				p.pos = len(p.data)
				return "", p.unexpected("an escape after '\\'")
			}
			switch e := p.data[i+1]; e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := jsonHex4(p.data[i+2:])
				if !ok {
					return "", p.errAt(i, "invalid \\u escape in a string (want 4 hex digits)")
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair of escapes makes one rune; a lone
					// surrogate becomes U+FFFD, as in encoding/json.
					if len(p.data) > i+1 && p.data[i] == '\\' && p.data[i+1] == 'u' {
						if r2, ok := jsonHex4(p.data[i+2:]); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								buf = utf8.AppendRune(buf, d)
								i += 6
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
				continue
			default:
				return "", p.errAt(i, "invalid escape '\\"+string(rune(e))+"' in a string")
			}
			i += 2
		case c < 0x20:
			return "", p.errAt(i, fmt.Sprintf("control character 0x%02x in a string (must be escaped)", c))
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			r, size := utf8.DecodeRune(p.data[i:])
			if r == utf8.RuneError && size == 1 {
				return "", p.errAt(i, "invalid UTF-8 in a string")
			}
			buf = append(buf, p.data[i:i+size]...)
			i += size
		}
	}
	p.pos = len(p.data)
	return "", p.unexpected("'\"' to end the string")
}

// jsonHex4 reads the 4 hex digits of a \u escape.
func jsonHex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and keeps
// it as written.
func (p *jsonParser) number() (any, error) {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(d) && d[p.pos] == '0':
		p.pos++
		if p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9' {
			return nil, p.errAt(start, "number with a leading zero")
		}
	case p.pos < len(d) && d[p.pos] >= '1' && d[p.pos] <= '9':
		p.digits()
	default:
		return nil, p.unexpected("a digit in a number")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return nil, p.unexpected("a digit after '.' in a number")
		}
		p.digits()
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(d) || d[p.pos] < '0' || d[p.pos] > '9' {
			return nil, p.unexpected("a digit in a number's exponent")
		}
		exp := 0
		for ; p.pos < len(d) && d[p.pos] >= '0' && d[p.pos] <= '9'; p.pos++ {
			if exp <= jsonMaxExponentAbs {
				exp = exp*10 + int(d[p.pos]-'0')
			}
		}
		if exp > jsonMaxExponentAbs {
			return nil, &Error{Path: "$", Msg: fmt.Sprintf("number at byte %d has an exponent beyond %d: too large to check exactly", start, jsonMaxExponentAbs)}
		}
	}
	if p.pos-start > jsonMaxNumberLen {
		return nil, &Error{Path: "$", Msg: fmt.Sprintf("number at byte %d is longer than %d bytes: too long to check exactly", start, jsonMaxNumberLen)}
	}
	return json.Number(d[start:p.pos]), nil
}

func (p *jsonParser) digits() {
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
}
