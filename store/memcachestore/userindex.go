package memcachestore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// index is a user index item as decoded: the IDs of the user's sessions,
// each with the time it was last added, and the item's own deadline.
//
// The stored form (format 1) is:
//
//	format    byte     1
//	expires   uvarint  Unix seconds: the deadline the item was last written with
//	count     uvarint
//	entries   count times, in increasing ID order:
//	          uvarint ID length, ID bytes, uvarint Unix seconds added
type index struct {
	expires int64
	entries map[string]int64
}

const indexFormat = 1

// errIndexCorrupt is wrapped by every error of unmarshalIndex.
var errIndexCorrupt = errors.New("corrupt user index")

func newIndex() *index { return &index{entries: map[string]int64{}} }

func (x *index) marshal() []byte {
	ids := slices.Sorted(maps.Keys(x.entries))
	n := 1 + 2*binary.MaxVarintLen64
	for _, id := range ids {
		n += 2*binary.MaxVarintLen64 + len(id)
	}
	b := make([]byte, 0, n)
	b = append(b, indexFormat)
	b = binary.AppendUvarint(b, uint64(min(max(x.expires, 0), maxUnix)))
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(min(max(x.entries[id], 0), maxUnix)))
	}
	return b
}

// unmarshalIndex decodes an index item. The input is untrusted: it never
// panics, allocates in proportion to len(b) at most, and refuses truncated,
// overlong or out-of-order input and trailing bytes.
func unmarshalIndex(b []byte) (*index, error) {
	fail := func(what string) (*index, error) {
		return nil, fmt.Errorf("%w: %s", errIndexCorrupt, what)
	}
	if len(b) == 0 || b[0] != indexFormat {
		return fail("unknown format")
	}
	b = b[1:]
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		// Refuse overlong encodings too, so that an index has one
		// encoding only.
		if n <= 0 || n != uvarintSize(v) {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	exp, ok := uvarint()
	if !ok || exp > maxUnix {
		return fail("bad expiry")
	}
	count, ok := uvarint()
	// An entry takes at least 3 bytes (two lengths and a one-byte ID).
	if !ok || count > uint64(len(b)/3) {
		return fail("bad entry count")
	}
	x := &index{expires: int64(exp), entries: make(map[string]int64, count)}
	prev := ""
	for i := range count {
		n, ok := uvarint()
		if !ok || n == 0 || n > uint64(len(b)) {
			return fail("bad ID length")
		}
		id := string(b[:n])
		b = b[n:]
		added, ok := uvarint()
		if !ok || added > maxUnix {
			return fail("bad entry time")
		}
		if i > 0 && id <= prev {
			return fail("IDs out of order")
		}
		prev = id
		x.entries[id] = int64(added)
	}
	if len(b) != 0 {
		return fail("trailing bytes")
	}
	return x, nil
}

// maxUnix bounds the Unix seconds an index holds: far beyond any session,
// and small enough that arithmetic on it cannot overflow.
const maxUnix = 1 << 40

// uvarintSize is the length of the shortest encoding of v.
func uvarintSize(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
