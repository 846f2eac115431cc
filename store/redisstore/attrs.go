package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A session's attributes ([store.Record.Attrs]) are one hash field, m:a,
// absent when there are none. One field rather than a field per attribute:
// Redis spends a field name and entry headers per field (in a hash table, a
// dict entry and two allocations), and UserSessions reads one more field, not
// one per attribute it cannot name in advance. The encoding is
// length-prefixed rather than JSON: no escaping, so a key made of quotes, dots
// or "$" costs its own bytes and nothing else. (A field longer than
// hash-max-listpack-value, 64 bytes by default, turns a listpack hash into a
// hash table, as a long value does: see the package documentation.)
//
// The field holds the attributes in ascending key order, each as
//
//	uvarint(len(key)) key uvarint(len(value)) value
//
// with minimal uvarints and nothing else: no count, no header. An attribute
// of a few bytes costs two bytes beyond its key and value. The form is
// canonical (one encoding per set, keys strictly ascending), so the decoder
// rejects anything the encoder would not have written.
//
// The commit script needs the bytes the stored attributes count for in the
// size limit (their keys and values) only when a commit replaces them or
// clears the values, and finds it by walking the lengths (see attrBytesLua).

// encodeAttrs returns the m:a field of attrs, "" for none, and the bytes they
// count for in the size limit.
func encodeAttrs(attrs map[string]string) (field string, size int) {
	if len(attrs) == 0 {
		return "", 0
	}
	keys := make([]string, 0, len(attrs))
	n := 0
	for k, v := range attrs {
		keys = append(keys, k)
		size += len(k) + len(v)
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(attrs[k])))
		b = append(b, attrs[k]...)
	}
	return string(b), size
}

// decodeAttrs decodes an m:a field. The field is untrusted: anything but the
// canonical encoding is an error matching ErrCorrupt, never a panic, and what
// it allocates is bounded by the field's length. "" is no attributes (nil).
// The keys and values share the memory of field, which is immutable.
func decodeAttrs(field string) (map[string]string, error) {
	if field == "" {
		return nil, nil
	}
	// Every attribute takes at least two bytes (two empty lengths), so a
	// count bounded by the field's length sizes the map.
	attrs := make(map[string]string, min(len(field)/2, 16))
	prev := ""
	for rest := field; rest != ""; {
		k, after, err := cutString(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: attributes: key at byte %d: %w", ErrCorrupt, len(field)-len(rest), err)
		}
		v, after, err := cutString(after)
		if err != nil {
			return nil, fmt.Errorf("%w: attributes: value of %q: %w", ErrCorrupt, trunc(k), err)
		}
		if len(attrs) > 0 && k <= prev {
			return nil, fmt.Errorf("%w: attributes: key %q after %q, not in ascending order", ErrCorrupt, trunc(k), trunc(prev))
		}
		attrs[k], prev, rest = v, k, after
	}
	return attrs, nil
}

// cutString reads one length-prefixed string from the front of s.
func cutString(s string) (str, rest string, err error) {
	n, w := uvarint(s)
	switch {
	case w == 0:
		return "", "", errors.New("truncated length")
	case w < 0:
		return "", "", errors.New("length overflows")
	case w != uvarintLen(n):
		return "", "", errors.New("length not in minimal form")
	case n > uint64(len(s)-w):
		return "", "", fmt.Errorf("length %d past the end (%d bytes left)", n, len(s)-w)
	}
	return s[w : w+int(n)], s[w+int(n):], nil
}

// uvarint is binary.Uvarint on a string, without converting it.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		if i == binary.MaxVarintLen64 {
			return 0, -(i + 1) // overflow
		}
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// uvarintLen is the length of n's minimal uvarint.
func uvarintLen(n uint64) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

// attrBytesLua is the commit script's block that sets olda to the bytes the
// stored attributes of key count for (their keys' and values' lengths): the
// field's length less its length prefixes, found by walking them. A malformed
// field never stops the script (a string.byte past the end is nil): the walk
// ends there and counts what it read. The field is a few short strings, and
// is walked only by a commit that replaces the attributes or clears the
// values; inline, not a function, so that other commits do not pay for
// making a closure.
const attrBytesLua = `
    local a = redis.call('HGET', key, 'm:a')
    if a then
      local i, n, over = 1, #a, 0
      while i <= n do
        local len, mul, c = 0, 1, 0
        repeat
          c = string.byte(a, i)
          if not c then i = n + 1; break end
          i, over = i + 1, over + 1
          len, mul = len + (c % 128) * mul, mul * 128
        until c < 128
        i = i + len
      end
      olda = n - over
    end
`
