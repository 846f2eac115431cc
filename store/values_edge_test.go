package store_test

import (
	"bytes"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/tether-go/tether/store"
)

// Keys with NUL, non-UTF-8, the empty key and empty values: order, lookups and
// empty-vs-missing all survive packing.
func TestValuesOddKeys(t *testing.T) {
	m := map[string][]byte{
		"":         {},
		"\x00":     []byte("nul"),
		"a\x00b":   {},
		"\xff\xfe": []byte("bin"),
		"a":        nil, // nil Set value: stored as empty, present
		"\x7f":     {0},
		"é":        []byte("x"),
	}
	v := store.ValuesOf(m)
	if v.Len() != len(m) {
		t.Fatalf("Len %d want %d", v.Len(), len(m))
	}
	for k, want := range m {
		got, ok := v.Lookup(k)
		if !ok || got == nil || !bytes.Equal(got, want) {
			t.Errorf("Lookup(%q) = %q %v nil=%v", k, got, ok, got == nil)
		}
	}
	for _, k := range []string{"\x00\x00", "b", "\xff", "a\x00"} {
		if v.Has(k) {
			t.Errorf("Has(%q) for a missing key", k)
		}
	}
	if !maps.EqualFunc(v.Map(), map[string][]byte{"": {}, "\x00": []byte("nul"), "a\x00b": {}, "\xff\xfe": []byte("bin"), "a": {}, "\x7f": {0}, "é": []byte("x")}, bytes.Equal) {
		t.Errorf("Map %q", v.Map())
	}
}

// Varint boundaries of key and value lengths.
func TestValuesVarintBoundaries(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 16383, 16384, 16385, 1<<21 - 1, 1 << 21, 1<<21 + 1} {
		k := strings.Repeat("k", n%300+1)
		val := bytes.Repeat([]byte{0x80}, n)
		var b store.ValuesBuilder
		b.Add("zz", []byte("after"))
		b.Add(k, val)
		b.Add("", []byte("before"))
		v := b.Values()
		if got, ok := v.Lookup(k); !ok || !bytes.Equal(got, val) || cap(got) != len(got) {
			t.Errorf("n=%d: value of %d bytes back as %d (cap %d)", n, n, len(got), cap(got))
		}
		if string(v.Get("zz")) != "after" || string(v.Get("")) != "before" || v.Len() != 3 {
			t.Errorf("n=%d: neighbours lost: %d keys", n, v.Len())
		}
		if v.Size() != len(k)+n+2+5+6 {
			t.Errorf("n=%d: Size %d", n, v.Size())
		}
	}
	// A key longer than 127 and 16383 bytes (multi-byte key length).
	for _, n := range []int{128, 16384, 100000} {
		k := strings.Repeat("\x01", n)
		v := store.ValuesOf(map[string][]byte{k: []byte("v"), "\x02": []byte("w")})
		if string(v.Get(k)) != "v" || string(v.Get("\x02")) != "w" {
			t.Errorf("key of %d bytes", n)
		}
	}
}

// Reusing a builder after Values, and changing the added slices after
// Values, change nothing in Values already built.
func TestBuilderReuse(t *testing.T) {
	var b store.ValuesBuilder
	src := []byte("one")
	b.Add("b", src)
	b.Add("a", []byte("x"))
	v1 := b.Values()
	src[0] = 'X'
	b.Add("a", []byte("second"))
	b.Add("c", []byte("third"))
	v2 := b.Values()
	if v1.String() != "map[a:x b:one]" || v2.String() != "map[a:second c:third]" {
		t.Errorf("v1 %v v2 %v", v1, v2)
	}
}

// Apply keeps no reference to c.Set, to the input Values, or to c.Delete.
func TestApplyOwnsBytes(t *testing.T) {
	base := store.ValuesOf(map[string][]byte{"a": []byte("1"), "b": []byte("2")})
	val := []byte("set")
	c := store.Change{Set: map[string][]byte{"c": val, "d": nil}, Delete: []string{"a"}}
	out := c.Apply(base)
	val[0] = 'X'
	c.Set["c"] = []byte("other")
	c.Delete[0] = "b"
	if out.String() != "map[b:2 c:set d:]" {
		t.Errorf("Apply result follows its inputs: %v", out)
	}
	if v, ok := out.Lookup("d"); !ok || v == nil || len(v) != 0 {
		t.Errorf("nil Set value: %q %v", v, ok)
	}
}

// Apply with many deletes (a set) and every combination of Clear, Delete and
// Set over the same key, against the documented order Clear, Delete, Set.
func TestApplyMatrix(t *testing.T) {
	base := store.ValuesOf(map[string][]byte{"k": []byte("old"), "o": []byte("other")})
	dels := func(many bool, withK bool) []string {
		var d []string
		if withK {
			d = append(d, "k")
		}
		if many {
			for i := range 12 {
				d = append(d, "pad"+string(rune('a'+i)))
			}
		}
		return d
	}
	for _, clr := range []bool{false, true} {
		for _, many := range []bool{false, true} {
			for _, del := range []bool{false, true} {
				for _, set := range []bool{false, true} {
					c := store.Change{Clear: clr, Delete: dels(many, del)}
					if set {
						c.Set = map[string][]byte{"k": {}}
					}
					model := base.Map()
					model = maps.Clone(model)
					if clr {
						clear(model)
					}
					for _, d := range c.Delete {
						delete(model, d)
					}
					for k, v := range c.Set {
						model[k] = v
					}
					got := c.Apply(base)
					if !reflect.DeepEqual(got, store.ValuesOf(model)) {
						t.Errorf("clear=%v many=%v del=%v set=%v: %v want %q", clr, many, del, set, got, model)
					}
				}
			}
		}
	}
}

// Record.Size after Apply on a tombstone-like empty record.
func TestApplyEmpty(t *testing.T) {
	var c store.Change
	if v := c.Apply(store.Values{}); !v.Empty() || !reflect.DeepEqual(v, store.Values{}) {
		t.Errorf("empty Apply on empty: %v", v)
	}
	c = store.Change{Delete: []string{"x"}}
	if v := c.Apply(store.Values{}); !v.Empty() {
		t.Errorf("delete on empty: %v", v)
	}
	c = store.Change{Set: map[string][]byte{"": nil}}
	if v := c.Apply(store.Values{}); v.Empty() || v.Len() != 1 || !v.Has("") {
		t.Errorf("set of the empty key to nil: %v empty=%v", v, v.Empty())
	}
}
