package pgstore

import (
	"bytes"
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
// The encoder writes the text Postgres's jsonb output function produces for
// the same object (`{"k": "v", "k2": "v2"}`, same escapes), except for key
// order, so that what the store writes and what it reads back look alike.

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
// not (which is not necessarily an error). It parses in two passes: the
// first finds the entries, so that the second can decode every value into
// one array of exactly the right size.
func decodeFast(raw []byte) (m map[string][]byte, ok bool) {
	type entry struct{ key, enc []byte }
	var stack [16]entry
	entries := stack[:0]
	p := parser{b: raw}
	p.ws()
	if !p.eat('{') {
		return nil, false
	}
	p.ws()
	if !p.eat('}') {
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
			entries = append(entries, entry{key, enc})
			p.ws()
			if p.eat(',') {
				continue
			}
			if !p.eat('}') {
				return nil, false
			}
			break
		}
	}
	p.ws()
	if !p.done() {
		return nil, false
	}

	size := 0
	for _, e := range entries {
		size += base64.StdEncoding.DecodedLen(len(e.enc))
	}
	buf := make([]byte, size)
	m = make(map[string][]byte, len(entries))
	at := 0
	for _, e := range entries {
		n, err := base64.StdEncoding.Decode(buf[at:], e.enc)
		if err != nil {
			return nil, false
		}
		m[string(e.key)] = buf[at : at+n : at+n]
		at += n
	}
	return m, true
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
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return nil, false
	}
	k := p.b[p.i : p.i+end]
	for _, c := range k {
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	p.i += end + 1
	return k, utf8.Valid(k)
}

// base64Chars marks the characters of standard base64, padding included.
var base64Chars = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") {
		t[c] = true
	}
	return t
}()

// base64 reads a quoted string of base64 characters. (The decoder would
// reject the others too, but it skips newlines, which JSON does not allow
// unescaped in a string.)
func (p *parser) base64() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	end := bytes.IndexByte(p.b[p.i:], '"')
	if end < 0 {
		return nil, false
	}
	v := p.b[p.i : p.i+end]
	for _, c := range v {
		if !base64Chars[c] {
			return nil, false
		}
	}
	p.i += end + 1
	return v, true
}
