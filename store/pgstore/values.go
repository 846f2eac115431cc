package pgstore

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// Values are kept in a jsonb object from key to the value's bytes in standard
// base64. Values are arbitrary bytes, which JSON strings cannot hold (and
// jsonb refuses \u0000), so they are encoded; keys are valid UTF-8 without
// NUL (the contract guarantees it), which jsonb keys can hold as they are.
//
// The encoder writes exactly the text Postgres's jsonb output function
// produces for the same object (`{"k": "v", "k2": "v2"}`, same escapes),
// except for key order. So the length of the encoding is the length the
// statement measures with octet_length(vals::text), and a Create's size is
// known before the round trip.

// encodedLen returns the length of appendValues(nil, set).
func encodedLen(set map[string][]byte) int {
	if len(set) == 0 {
		return 2
	}
	n := 2 + 2*(len(set)-1) // braces, ", " separators
	for k, v := range set {
		n += jsonStringLen(k) + len(`: ""`) + base64.StdEncoding.EncodedLen(len(v))
	}
	return n
}

// appendValues appends set as a JSON object in jsonb's output form.
func appendValues(buf []byte, set map[string][]byte) []byte {
	buf = append(buf, '{')
	first := true
	for k, v := range set {
		if !first {
			buf = append(buf, ", "...)
		}
		first = false
		buf = appendJSONString(buf, k)
		buf = append(buf, `: "`...)
		buf = base64.StdEncoding.AppendEncode(buf, v)
		buf = append(buf, '"')
	}
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as Postgres's escape_json does: the two-character
// escapes for \b \f \n \r \t " \, \u00XX for other control characters, and
// everything else (including non-ASCII) as is.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\b':
			buf = append(buf, `\b`...)
		case '\f':
			buf = append(buf, `\f`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\r':
			buf = append(buf, `\r`...)
		case '\t':
			buf = append(buf, `\t`...)
		case '"':
			buf = append(buf, `\"`...)
		case '\\':
			buf = append(buf, `\\`...)
		default:
			if c < 0x20 {
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				buf = append(buf, c)
			}
		}
	}
	return append(buf, '"')
}

func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\\':
			n += 2
		case c < 0x20:
			n += 6
		default:
			n++
		}
	}
	return n
}

var errBadValues = errors.New("pgstore: stored values are not a JSON object of base64 strings")

// decodeValues parses a values object as read from the vals column. The
// column's contents are not trusted: anything but an object of base64
// strings is an error, never a panic, and the allocation is bounded by the
// input's length.
//
// The common shape (what Postgres outputs: keys without escapes, plain base64
// values) is parsed directly, with the values sharing one backing array;
// anything else (escaped keys, odd whitespace, invalid UTF-8) goes through
// encoding/json, which the fuzz target checks the fast path against.
func decodeValues(raw []byte) (map[string][]byte, error) {
	if m, ok := decodeFast(raw); ok {
		return m, nil
	}
	return decodeSlow(raw)
}

func decodeSlow(raw []byte) (map[string][]byte, error) {
	var enc map[string]string
	if err := json.Unmarshal(raw, &enc); err != nil || enc == nil {
		return nil, errBadValues
	}
	m := make(map[string][]byte, len(enc))
	for k, v := range enc {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, errBadValues
		}
		m[k] = b
	}
	return m, nil
}

// decodeFast parses raw if it is in the simple shape; ok is false if it is
// not (which is not necessarily an error).
func decodeFast(raw []byte) (m map[string][]byte, ok bool) {
	p := parser{b: raw}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	// Count the entries to size the map and the shared value buffer: a pass
	// over the input is cheaper than growing both.
	entries, b64 := 0, 0
	inString, quote := false, 0
	for _, c := range raw[p.i:] {
		switch {
		case c == '"':
			if inString {
				quote++
				if quote%2 == 0 {
					entries++
				}
			}
			inString = !inString
		case inString && quote%2 == 1:
			b64++
		}
	}
	m = make(map[string][]byte, entries)
	buf := make([]byte, 0, b64/4*3+3)

	p.ws()
	if p.eat('}') {
		p.ws()
		return m, p.done()
	}
	for {
		p.ws()
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.eat(':') {
			return nil, false
		}
		p.ws()
		enc, ok := p.base64()
		if !ok {
			return nil, false
		}
		need := base64.StdEncoding.DecodedLen(len(enc))
		if cap(buf)-len(buf) < need {
			// The count above was thrown off (by an escaped quote, say):
			// values decoded so far keep the old array.
			buf = make([]byte, 0, need+len(raw)-p.i)
		}
		start := len(buf)
		buf = buf[:start+need]
		n, err := base64.StdEncoding.Decode(buf[start:], enc)
		if err != nil {
			return nil, false
		}
		buf = buf[:start+n]
		m[string(key)] = buf[start : start+n : start+n]
		p.ws()
		if p.eat(',') {
			continue
		}
		if !p.eat('}') {
			return nil, false
		}
		p.ws()
		return m, p.done()
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) done() bool { return p.i == len(p.b) }

// key reads a quoted key without escapes or control characters, in valid
// UTF-8.
func (p *parser) key() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			k := p.b[start:p.i]
			p.i++
			return k, utf8.Valid(k)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// base64 reads a quoted string of base64 characters.
func (p *parser) base64() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			v := p.b[start:p.i]
			p.i++
			return v, true
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return nil, false
		}
		p.i++
	}
	return nil, false
}
