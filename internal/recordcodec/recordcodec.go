// Package recordcodec encodes a whole [store.Record] as one byte string, for
// backends that keep a record as a single blob (Memcached) and for caches that
// need a record's encoded size.
//
// # Format
//
// The encoding is compact, self-delimiting and versioned. Its first byte is the
// format version; a decoder refuses versions it does not know. Version 1 is:
//
//	version   byte    1
//	flags     byte    bit 0: tombstone (Moved is set)
//	                  bit 1: Created is the zero time
//	                  bit 2: LastSeen is the zero time
//	                  bit 3: Expires is the zero time
//	                  other bits must be 0
//	Version   uvarint
//	Created   varint  Unix nanoseconds (absent if its zero flag is set)
//	LastSeen  varint  ditto
//	Expires   varint  ditto
//	UserID    uvarint length, bytes
//	Moved.To  uvarint length, bytes   (tombstones only)
//	Sealed    uvarint length, bytes   (tombstones only)
//	values    uvarint count, then per value, in increasing key order:
//	          uvarint key length, key bytes, uvarint value length, value bytes
//
// Version 2 adds the record's attributes ([store.Record.Attrs]). It is
// version 1 with a first byte of 2 and, between the tombstone fields and the
// values:
//
//	attrs     uvarint count (at least 1), then per attribute, in increasing
//	          key order: uvarint key length, key bytes, uvarint value
//	          length, value bytes
//
// [Marshal] writes version 1 for a record without attributes, byte for byte
// what the previous release wrote, and version 2 only for one with
// attributes: during a rolling upgrade, processes of the previous release
// still read every record that has none (a record with attributes is
// ErrCorrupt to them). [Unmarshal] reads both; a record of version 1 has no
// attributes. The attributes come before the values so that [UnmarshalMeta]
// can return them without copying the values.
//
// Times are kept to the nanosecond in UTC; their location and monotonic clock
// reading are not kept. A non-zero time outside the range of Unix nanoseconds
// (years 1678 to 2262) is saturated to the nearest end of that range: session
// times never come near it. Output is deterministic: equal records encode to
// equal bytes.
//
// # Hostile input
//
// [Unmarshal] treats its input as untrusted: it never panics, checks every
// declared length against the bytes that remain before allocating, so it never
// allocates more than a small multiple of len(b), and reports truncated,
// overlong or malformed input, duplicate or unordered keys (of values and of
// attributes), a version-2 record without attributes and trailing bytes with
// an error matching [ErrCorrupt].
package recordcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/tether-go/tether/store"
)

// FormatVersion is the newest format version, the first byte of Marshal's
// output for a record with attributes. A record without them is written in
// [FormatV1].
const FormatVersion = 2

// FormatV1 is the format version of a record without attributes, the only
// one the previous release wrote and read.
const FormatV1 = 1

// ErrCorrupt is matched (with errors.Is) by every error Unmarshal returns.
var ErrCorrupt = errors.New("recordcodec: corrupt record")

const (
	flagMoved = 1 << iota
	flagZeroCreated
	flagZeroLastSeen
	flagZeroExpires
	flagsKnown = flagMoved | flagZeroCreated | flagZeroLastSeen | flagZeroExpires
)

// Marshal encodes r. It does not modify r and the result does not alias it.
// Marshal is safe for concurrent use on a record nobody modifies.
func Marshal(r *store.Record) []byte {
	var flags byte
	if r.Moved != nil {
		flags |= flagMoved
	}
	if r.Created.IsZero() {
		flags |= flagZeroCreated
	}
	if r.LastSeen.IsZero() {
		flags |= flagZeroLastSeen
	}
	if r.Expires.IsZero() {
		flags |= flagZeroExpires
	}

	n := 2 + uvarintLen(r.Version) + 3*binary.MaxVarintLen64 + lenPrefixed(len(r.UserID))
	if r.Moved != nil {
		n += lenPrefixed(len(r.Moved.To)) + lenPrefixed(len(r.Moved.Sealed))
	}
	nkeys := 0
	for k, v := range r.Values.All() { // in key order
		n += lenPrefixed(len(k)) + lenPrefixed(len(v))
		nkeys++
	}
	n += uvarintLen(uint64(nkeys))
	format := byte(FormatV1)
	var attrKeys []string
	if len(r.Attrs) > 0 {
		format = FormatVersion
		attrKeys = slices.Sorted(maps.Keys(r.Attrs))
		n += uvarintLen(uint64(len(attrKeys)))
		for _, k := range attrKeys {
			n += lenPrefixed(len(k)) + lenPrefixed(len(r.Attrs[k]))
		}
	}

	b := make([]byte, 0, n)
	b = append(b, format, flags)
	b = binary.AppendUvarint(b, r.Version)
	b = appendTime(b, r.Created)
	b = appendTime(b, r.LastSeen)
	b = appendTime(b, r.Expires)
	b = appendString(b, r.UserID)
	if r.Moved != nil {
		b = appendString(b, r.Moved.To)
		b = appendBytes(b, r.Moved.Sealed)
	}
	if format == FormatVersion {
		b = binary.AppendUvarint(b, uint64(len(attrKeys)))
		for _, k := range attrKeys {
			b = appendString(b, k)
			b = appendString(b, r.Attrs[k])
		}
	}
	b = binary.AppendUvarint(b, uint64(nkeys))
	for k, v := range r.Values.All() {
		b = appendString(b, k)
		b = appendBytes(b, v)
	}
	return b
}

// Unmarshal decodes a record encoded by Marshal, in either format version.
// The record does not alias b. Times come back in UTC. A record with no
// values has empty Values, one with no attributes a nil Attrs map; an
// empty value is a non-nil empty slice.
func Unmarshal(b []byte) (*store.Record, error) {
	return decode(b, true)
}

// UnmarshalMeta decodes what Unmarshal does except the values: the record it
// returns has empty Values, and its attributes, user id and times are
// those of the record (what [store.Record.Info] needs). It accepts and
// refuses exactly the inputs Unmarshal does (the values are checked, not
// copied), so a record listed through it is one that Load can read. It
// allocates in proportion to the record's metadata, not to its values.
func UnmarshalMeta(b []byte) (*store.Record, error) {
	return decode(b, false)
}

func decode(b []byte, withValues bool) (*store.Record, error) {
	d := decoder{buf: b}
	if len(b) == 0 {
		return nil, d.fail("empty input")
	}
	format := b[0]
	if format != FormatV1 && format != FormatVersion {
		return nil, d.fail(fmt.Sprintf("unsupported format version %d", b[0]))
	}
	d.off = 1
	flags, ok := d.byte()
	if !ok {
		return nil, d.fail("truncated flags")
	}
	if flags&^flagsKnown != 0 {
		return nil, d.fail(fmt.Sprintf("unknown flags %#x", flags))
	}

	if withValues {
		// Decode into a private copy of the input: values and sealed
		// bytes are slices of it, so decoding costs one allocation for
		// all of them and the result never aliases the caller's buffer.
		d.buf = append([]byte(nil), b...)
	}

	r := &store.Record{}
	if r.Version, ok = d.uvarint(); !ok {
		return nil, d.fail("bad version")
	}
	var err error
	if r.Created, err = d.time(flags&flagZeroCreated != 0, "created"); err != nil {
		return nil, err
	}
	if r.LastSeen, err = d.time(flags&flagZeroLastSeen != 0, "last seen"); err != nil {
		return nil, err
	}
	if r.Expires, err = d.time(flags&flagZeroExpires != 0, "expires"); err != nil {
		return nil, err
	}
	uid, ok := d.field()
	if !ok {
		return nil, d.fail("bad user id")
	}
	r.UserID = string(uid)
	if flags&flagMoved != 0 {
		to, ok := d.field()
		if !ok {
			return nil, d.fail("bad moved-to id")
		}
		sealed, ok := d.field()
		if !ok {
			return nil, d.fail("bad sealed token")
		}
		if !withValues {
			sealed = bytes.Clone(sealed) // b is the caller's
			if sealed == nil {
				sealed = []byte{}
			}
		}
		r.Moved = &store.Moved{To: string(to), Sealed: sealed}
	}

	if format == FormatVersion {
		count, err := d.count("attribute", 1)
		if err != nil {
			return nil, err
		}
		r.Attrs = make(map[string]string, count)
		if err := d.pairs("attribute", count, func(k, v []byte) { r.Attrs[string(k)] = string(v) }); err != nil {
			return nil, err
		}
	}

	count, err := d.count("value", 0)
	if err != nil {
		return nil, err
	}
	var values store.ValuesBuilder
	err = d.pairs("value", count, func(k, v []byte) {
		if withValues {
			values.Add(string(k), v)
		}
	})
	if err != nil {
		return nil, err
	}
	r.Values = values.Values()
	if d.remaining() != 0 {
		return nil, d.fail(fmt.Sprintf("%d trailing bytes", d.remaining()))
	}
	return r, nil
}

// count reads the number of key-value pairs that follow, at least least.
func (d *decoder) count(what string, least uint64) (uint64, error) {
	count, ok := d.uvarint()
	if !ok {
		return 0, d.fail("bad " + what + " count")
	}
	if count < least {
		return 0, d.fail(fmt.Sprintf("%s count %d, want at least %d", what, count, least))
	}
	// Every pair takes at least two bytes (two zero lengths), so a count
	// larger than half of what remains cannot be honest: refuse it before
	// sizing a map by it.
	if count > uint64(d.remaining()/2) {
		return 0, d.fail(fmt.Sprintf("%s count %d exceeds the %d bytes left", what, count, d.remaining()))
	}
	return count, nil
}

// pairs reads count key-value pairs, whose keys must be in increasing order
// (Marshal's order; anything else, a duplicate in particular, is not its
// output), and hands each to put as slices of the decoder's buffer.
func (d *decoder) pairs(what string, count uint64, put func(k, v []byte)) error {
	var prev []byte
	for i := range count {
		k, ok := d.field()
		if !ok {
			return d.fail(fmt.Sprintf("bad key of %s %d", what, i))
		}
		v, ok := d.field()
		if !ok {
			return d.fail(fmt.Sprintf("bad %s %d", what, i))
		}
		if i > 0 {
			switch c := bytes.Compare(k, prev); {
			case c == 0:
				return d.fail(fmt.Sprintf("duplicate key %q of %s %d", k, what, i))
			case c < 0:
				return d.fail(fmt.Sprintf("%s key %q out of order", what, k))
			}
		}
		prev = k
		put(k, v)
	}
	return nil
}

type decoder struct {
	buf []byte
	off int
}

func (d *decoder) fail(detail string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrCorrupt, detail, d.off)
}

func (d *decoder) remaining() int { return len(d.buf) - d.off }

func (d *decoder) byte() (byte, bool) {
	if d.off >= len(d.buf) {
		return 0, false
	}
	c := d.buf[d.off]
	d.off++
	return c, true
}

func (d *decoder) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		return 0, false
	}
	d.off += n
	return v, true
}

func (d *decoder) varint() (int64, bool) {
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		return 0, false
	}
	d.off += n
	return v, true
}

// field reads a length-prefixed field and returns it as a slice of the
// decoder's private buffer, capacity-limited so that appending to it cannot
// overwrite what follows.
func (d *decoder) field() ([]byte, bool) {
	n, ok := d.uvarint()
	if !ok || n > uint64(d.remaining()) {
		return nil, false
	}
	end := d.off + int(n)
	f := d.buf[d.off:end:end]
	d.off = end
	return f, true
}

func (d *decoder) time(zero bool, name string) (time.Time, error) {
	if zero {
		return time.Time{}, nil
	}
	ns, ok := d.varint()
	if !ok {
		return time.Time{}, d.fail("bad " + name + " time")
	}
	return time.Unix(0, ns).UTC(), nil
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	return binary.AppendVarint(b, UnixNano(t))
}

// Bounds of the instants whose Unix nanoseconds fit in an int64.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// UnixNano returns t as Unix nanoseconds, saturated at the bounds an int64
// can hold (1677-09-21 to 2262-04-11). time.Time.UnixNano is undefined
// outside them and wraps in practice: an expiry in the year 3000 ("never")
// would come out negative, and the record would expire at once. Saturated,
// it stays later than any present a store will judge; the zero time stays
// before any.
func UnixNano(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func lenPrefixed(n int) int { return uvarintLen(uint64(n)) + n }
