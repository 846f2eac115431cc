package store

import "strings"

// PackedValues returns the Values whose packed form is b, sharing b's bytes,
// and false if b is not one. The packed form is the keys and values in
// strictly increasing key order, each pair written as uvarint(len(key)),
// key, uvarint(len(value)), value, with minimal uvarints; the empty string
// is no values. It is for a store that keeps a record's values in that form
// (redisstore's session string ends with them): a load then hands out the
// bytes it read instead of building the values again. b is untrusted:
// anything malformed is refused, never a panic.
func PackedValues(b string) (Values, bool) {
	prev := ""
	for i, n := 0, 0; i < len(b); n++ {
		var key string
		var ok bool
		if key, i, ok = packedString(b, i); !ok {
			return Values{}, false
		}
		if _, i, ok = packedString(b, i); !ok {
			return Values{}, false
		}
		if n > 0 && strings.Compare(key, prev) <= 0 {
			return Values{}, false
		}
		prev = key
	}
	return Values{b: b}, true
}

// packedString reads the length-prefixed string at offset i of b, and the
// offset after it, checking that the length is a minimal uvarint within b.
func packedString(b string, i int) (s string, next int, ok bool) {
	var n uint64
	for shift := 0; ; shift += 7 {
		if i >= len(b) || shift > 49 { // 8 bytes: lengths up to 2^56
			return "", 0, false
		}
		c := b[i]
		i++
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if c == 0 && shift > 0 {
				return "", 0, false // not minimal
			}
			break
		}
	}
	if n > uint64(len(b)-i) {
		return "", 0, false
	}
	return b[i : i+int(n)], i + int(n), true
}
