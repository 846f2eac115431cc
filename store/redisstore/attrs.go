package redisstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// A session's attributes ([store.Record.Attrs]) are one string of the
// session's (see layout.go), empty when there are none. The encoding is
// length-prefixed rather than JSON: no escaping, so a key made of quotes,
// dots or "$" costs its own bytes and nothing else.
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
// The commit script finds the bytes kept attributes count for in the size
// limit (their keys and values) by walking the lengths.

// encodeAttrs returns the encoding of attrs, "" for none, and the bytes they
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

// decodeAttrs decodes attributes. The field is untrusted: anything but the
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
