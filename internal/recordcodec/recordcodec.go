// Package recordcodec encodes a whole [store.Record] as one byte string, for
// backends that keep a record as a single blob (Memcached) and for caches that
// need a record's encoded size.
//
// # Format
//
// The encoding is compact, self-delimiting and versioned. Its first byte is the
// format version ([FormatVersion]); a decoder refuses versions it does not know.
// Version 1 is:
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
// overlong or malformed input, duplicate keys and trailing bytes with an error
// matching [ErrCorrupt].
package recordcodec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tether-go/tether/store"
)

// FormatVersion is the format version Marshal writes, the first byte of its
// output.
const FormatVersion = 1

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
	keys := make([]string, 0, len(r.Values))
	for k := range r.Values {
		keys = append(keys, k)
	}
	slices.Sort(keys)

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
	n += uvarintLen(uint64(len(keys)))
	for _, k := range keys {
		n += lenPrefixed(len(k)) + lenPrefixed(len(r.Values[k]))
	}

	b := make([]byte, 0, n)
	b = append(b, FormatVersion, flags)
	b = binary.AppendUvarint(b, r.Version)
	b = appendTime(b, r.Created)
	b = appendTime(b, r.LastSeen)
	b = appendTime(b, r.Expires)
	b = appendString(b, r.UserID)
	if r.Moved != nil {
		b = appendString(b, r.Moved.To)
		b = appendBytes(b, r.Moved.Sealed)
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendBytes(b, r.Values[k])
	}
	return b
}

// Unmarshal decodes a record encoded by Marshal. The record does not alias b.
// Times come back in UTC. A record with no values has a nil Values map; an
// empty value is a non-nil empty slice.
func Unmarshal(b []byte) (*store.Record, error) {
	d := decoder{buf: b}
	if len(b) == 0 {
		return nil, d.fail("empty input")
	}
	if b[0] != FormatVersion {
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

	// Decode into a private copy of the input: values and sealed bytes are
	// slices of it, so decoding costs one allocation for all of them and the
	// result never aliases the caller's buffer.
	d.buf = append([]byte(nil), b...)

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
		r.Moved = &store.Moved{To: string(to), Sealed: sealed}
	}

	count, ok := d.uvarint()
	if !ok {
		return nil, d.fail("bad value count")
	}
	// Every value takes at least two bytes (two zero lengths), so a count
	// larger than half of what remains cannot be honest: refuse it before
	// sizing a map by it.
	if count > uint64(d.remaining()/2) {
		return nil, d.fail(fmt.Sprintf("value count %d exceeds the %d bytes left", count, d.remaining()))
	}
	if count > 0 {
		r.Values = make(map[string][]byte, count)
	}
	prev := ""
	for i := range count {
		k, ok := d.field()
		if !ok {
			return nil, d.fail(fmt.Sprintf("bad key of value %d", i))
		}
		v, ok := d.field()
		if !ok {
			return nil, d.fail(fmt.Sprintf("bad value %d", i))
		}
		key := string(k)
		// Marshal writes keys in increasing order; anything else (a
		// duplicate in particular) is not its output.
		if i > 0 && key <= prev {
			if key == prev {
				return nil, d.fail(fmt.Sprintf("duplicate key %q", key))
			}
			return nil, d.fail(fmt.Sprintf("key %q out of order", key))
		}
		prev = key
		r.Values[key] = v
	}
	if d.remaining() != 0 {
		return nil, d.fail(fmt.Sprintf("%d trailing bytes", d.remaining()))
	}
	return r, nil
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
	return binary.AppendVarint(b, unixNano(t))
}

// Bounds of the instants whose Unix nanoseconds fit in an int64.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func unixNano(t time.Time) int64 {
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
