// Package attrcodec encodes a record's attributes ([store.Record.Attrs]) as
// one byte string, for the SQL stores, which keep them in a binary column of
// the sessions row.
//
// A binary column with this encoding, rather than JSON: keys and values are
// any strings (NUL included, which Postgres's jsonb refuses; "$where", "a.b",
// quotes), and bytes round-trip exactly with no escaping rules to get right.
// The size header lets SQL read what the attributes add to
// [store.Record.Size] without decoding them, so that a write's size check
// stays inside its statement.
//
// # Format
//
//	version  byte    1
//	size     uint32  big-endian: the sum of len(key)+len(value), as
//	                 Record.Size counts the attributes
//	count    uvarint
//	entries  count times, in strictly increasing key order:
//	         uvarint key length, key bytes, uvarint value length, value bytes
//
// No attributes encode to nil (a NULL column), never to a zero count.
// Output is deterministic: equal maps encode to equal bytes.
//
// # Hostile input
//
// [Decode] treats its input as untrusted (a column anyone with access to the
// database can write): it never panics, checks every length against the
// bytes that remain before allocating, and reports truncated or malformed
// input, keys out of order or repeated, a size header that disagrees with the
// entries, and trailing bytes with a *[CorruptError].
package attrcodec

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// FormatVersion is the first byte of every encoding.
const FormatVersion = 1

// HeaderLen is the length of the version byte and the size header. The size
// is bytes 2 to 5 (1-based, as SQL's SUBSTRING counts) of the encoding.
const HeaderLen = 5

// Size returns what attrs add to [store.Record.Size].
func Size(attrs map[string]string) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(v)
	}
	return n
}

// EncodedLen returns len(Encode(attrs)).
func EncodedLen(attrs map[string]string) int {
	if len(attrs) == 0 {
		return 0
	}
	n := HeaderLen + uvarintLen(uint64(len(attrs)))
	for k, v := range attrs {
		n += uvarintLen(uint64(len(k))) + len(k) + uvarintLen(uint64(len(v))) + len(v)
	}
	return n
}

// Encode returns attrs' encoding, nil for none. It panics if their size does
// not fit the header's 32 bits (4 GiB), which no store's record limit admits:
// callers check the size against their limit first.
func Encode(attrs map[string]string) []byte {
	if len(attrs) == 0 {
		return nil
	}
	size := Size(attrs)
	if uint64(size) > math.MaxUint32 {
		panic("attrcodec: attributes larger than 4 GiB")
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, EncodedLen(attrs))
	b = append(b, FormatVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(size))
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		v := attrs[k]
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// CorruptError is the error Decode returns for input Encode cannot have
// written.
type CorruptError struct {
	Offset int    // where in the input the problem was found
	Reason string // what it is
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("attrcodec: corrupt attributes at byte %d: %s", e.Offset, e.Reason)
}

// Decode decodes an encoding written by Encode; nil or empty input is no
// attributes (a nil map). The result does not alias b.
func Decode(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := decoder{b: b}
	if b[0] != FormatVersion {
		return nil, d.fail(fmt.Sprintf("unsupported format version %d", b[0]))
	}
	if len(b) < HeaderLen {
		return nil, d.fail("truncated header")
	}
	size := uint64(binary.BigEndian.Uint32(b[1:HeaderLen]))
	d.off = HeaderLen
	count, ok := d.uvarint()
	if !ok {
		return nil, d.fail("bad count")
	}
	// Every entry takes at least two bytes (two lengths), so a larger count
	// cannot be honest: refuse it before sizing a map by it.
	if count == 0 || count > uint64(len(b)-d.off)/2 {
		return nil, d.fail(fmt.Sprintf("count %d with %d bytes left", count, len(b)-d.off))
	}
	attrs := make(map[string]string, count)
	var total uint64
	prev := ""
	for i := range count {
		k, ok := d.field()
		if !ok {
			return nil, d.fail(fmt.Sprintf("bad key of entry %d", i))
		}
		v, ok := d.field()
		if !ok {
			return nil, d.fail(fmt.Sprintf("bad value of entry %d", i))
		}
		if i > 0 && k <= prev {
			return nil, d.fail(fmt.Sprintf("key of entry %d is not after the previous one", i))
		}
		prev = k
		attrs[k] = v
		total += uint64(len(k) + len(v))
	}
	if d.off != len(b) {
		return nil, d.fail(fmt.Sprintf("%d trailing bytes", len(b)-d.off))
	}
	if total != size {
		return nil, d.fail(fmt.Sprintf("size header %d, entries hold %d", size, total))
	}
	return attrs, nil
}

type decoder struct {
	b   []byte
	off int
}

func (d *decoder) fail(reason string) error { return &CorruptError{Offset: d.off, Reason: reason} }

func (d *decoder) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		return 0, false
	}
	d.off += n
	return v, true
}

// field reads a length-prefixed string, checking the length against what
// remains before copying.
func (d *decoder) field() (string, bool) {
	n, ok := d.uvarint()
	if !ok || n > uint64(len(d.b)-d.off) {
		return "", false
	}
	s := string(d.b[d.off : d.off+int(n)])
	d.off += int(n)
	return s, true
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
