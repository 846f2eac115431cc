package store

import (
	"cmp"
	"encoding/binary"
	"iter"
	"slices"
	"unsafe"
)

// Values are a record's values: keys and their encoded values, packed into
// one string in key order.
//
// Packed rather than a map[string][]byte because stores keep them: a Go map
// of three keys is an 8-slot group of string and slice headers, about 400
// bytes and four objects, which a store that keeps sessions in the Go heap
// (memstore, the hybrid cache) would hold for every session and the
// collector mark on every cycle, whatever the requests do. Packed, a
// session's values are one object a few bytes larger than its keys and
// values; a lookup scans them, which for the few keys a session holds is as
// fast as hashing the key.
//
// Values are immutable: every method reads, [Change.Apply] returns new
// Values, and the slices they hand out must not be modified (they are
// capped, so an append copies). The zero Values are empty. Equal contents
// are equal bytes, so reflect.DeepEqual compares Values by content. Values
// are safe for concurrent use.
type Values struct {
	// b holds the pairs in increasing key order, each as uvarint(len(key)),
	// key, uvarint(len(value)), value; "" when empty. A string, not a
	// slice: it is never written once built, and its header is 8 bytes
	// smaller in every record a store keeps.
	b string
}

// ValuesOf returns m's keys and values, copied. A nil or empty m gives
// empty Values.
func ValuesOf(m map[string][]byte) Values {
	if len(m) == 0 {
		return Values{}
	}
	var b ValuesBuilder
	b.Grow(len(m))
	for k, v := range m {
		b.Add(k, v)
	}
	return b.Values()
}

// Packed returns the packed form of the values (see [PackedValues]): the
// pairs in increasing key order, each as uvarint(len(key)), key,
// uvarint(len(value)), value. It shares the Values' bytes.
func (v Values) Packed() string { return v.b }

// Len returns the number of keys.
func (v Values) Len() int {
	n := 0
	for i := 0; i < len(v.b); n++ {
		_, _, i = v.pair(i)
	}
	return n
}

// Empty reports whether there are no keys.
func (v Values) Empty() bool { return len(v.b) == 0 }

// Lookup returns the value of key and whether it is set. It scans the keys
// before key: to visit many keys, range over [Values.All] once instead.
func (v Values) Lookup(key string) ([]byte, bool) {
	for i := 0; i < len(v.b); {
		k, val, next := v.pair(i)
		switch cmp.Compare(k, key) {
		case 0:
			return val, true
		case 1:
			return nil, false // keys are in order: key is not further on
		}
		i = next
	}
	return nil, false
}

// Get returns the value of key, or nil if it is not set.
func (v Values) Get(key string) []byte {
	val, _ := v.Lookup(key)
	return val
}

// Has reports whether key is set.
func (v Values) Has(key string) bool {
	_, ok := v.Lookup(key)
	return ok
}

// All yields each key and its value, in increasing key order.
func (v Values) All() iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		for i := 0; i < len(v.b); {
			k, val, next := v.pair(i)
			if !yield(k, val) {
				return
			}
			i = next
		}
	}
}

// Keys yields each key in increasing order.
func (v Values) Keys() iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range v.All() {
			if !yield(k) {
				return
			}
		}
	}
}

// Map returns the keys and values as a new map whose value slices share the
// Values' bytes. Nil if there are none.
func (v Values) Map() map[string][]byte {
	if v.Empty() {
		return nil
	}
	m := make(map[string][]byte, v.Len())
	for k, val := range v.All() {
		m[k] = val
	}
	return m
}

// String formats the values as fmt formats a map of keys to strings, for
// logs and test failures.
func (v Values) String() string {
	b := []byte("map[")
	for k, val := range v.All() {
		if len(b) > 4 {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, val...)
	}
	return string(append(b, ']'))
}

// Size returns the total length of the keys and values, as [Record.Size]
// counts them.
func (v Values) Size() int {
	n := 0
	for k, val := range v.All() {
		n += len(k) + len(val)
	}
	return n
}

// pair decodes the pair at offset i and returns the offset of the next.
// The value is a slice of the packed string's bytes, whose capacity is its
// length, so an append copies: the store contract forbids writing into a
// loaded record's values, as with the string itself.
func (v Values) pair(i int) (key string, val []byte, next int) {
	kl, i := uvarint(v.b, i)
	key, i = v.b[i:i+kl], i+kl
	vl, i := uvarint(v.b, i)
	if vl == 0 {
		return key, []byte{}, i
	}
	return key, unsafe.Slice(unsafe.StringData(v.b[i:]), vl), i + vl
}

// uvarint decodes the length at offset i of a string the builder wrote.
func uvarint(s string, i int) (n, next int) {
	for shift := 0; ; shift += 7 {
		c := s[i]
		i++
		n |= int(c&0x7f) << shift
		if c < 0x80 {
			return n, i
		}
	}
}

// A ValuesBuilder collects keys and values and packs them into [Values].
// Adding a key again replaces its value. The zero ValuesBuilder is ready to
// use; it is not safe for concurrent use.
type ValuesBuilder struct {
	pairs []valuePair
}

type valuePair struct {
	key string
	val []byte
}

// Grow makes room for n more keys.
func (b *ValuesBuilder) Grow(n int) { b.pairs = slices.Grow(b.pairs, n) }

// Add sets key to value. The value is copied when the Values are built, so
// the caller may reuse it afterwards but not before.
func (b *ValuesBuilder) Add(key string, value []byte) {
	b.pairs = append(b.pairs, valuePair{key, value})
}

// Values packs the keys and values added so far, in one allocation, and
// resets the builder.
func (b *ValuesBuilder) Values() Values {
	pairs := b.pairs
	b.pairs = b.pairs[:0]
	if len(pairs) == 0 {
		return Values{}
	}
	// A stable sort keeps a repeated key's adds in order, so the last one
	// is the one kept.
	if !slices.IsSortedFunc(pairs, comparePairs) {
		slices.SortStableFunc(pairs, comparePairs)
	}
	n := 0
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].key == p.key {
			continue
		}
		n += packedLen(p.key, p.val)
	}
	out := make([]byte, 0, n)
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].key == p.key {
			continue
		}
		out = appendPair(out, p.key, p.val)
	}
	clear(pairs) // drop the references to the caller's values
	// The bytes are never written again, so the string can share them.
	return Values{b: unsafe.String(unsafe.SliceData(out), len(out))}
}

func comparePairs(a, b valuePair) int { return cmp.Compare(a.key, b.key) }

func packedLen(key string, val []byte) int {
	return uvarintLen(len(key)) + len(key) + uvarintLen(len(val)) + len(val)
}

func appendPair(b []byte, key string, val []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(val)))
	return append(b, val...)
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}
