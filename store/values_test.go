package store_test

import (
	"bytes"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tether-go/tether/store"
)

func TestValues(t *testing.T) {
	m := map[string][]byte{"b": []byte("2"), "a": []byte("1"), "empty": {}, "c:{x}": []byte("3")}
	v := store.ValuesOf(m)
	if v.Len() != 4 || v.Empty() {
		t.Fatalf("Len %d, Empty %v", v.Len(), v.Empty())
	}
	for k, want := range m {
		got, ok := v.Lookup(k)
		if !ok || !bytes.Equal(got, want) || got == nil {
			t.Errorf("Lookup(%q) = %q, %v; want %q", k, got, ok, want)
		}
	}
	for _, k := range []string{"", "0", "aa", "d", "c", "empty2"} {
		if got, ok := v.Lookup(k); ok || got != nil || v.Has(k) {
			t.Errorf("Lookup(%q) = %q, %v for a missing key", k, got, ok)
		}
	}
	if keys := slices.Collect(v.Keys()); !slices.IsSorted(keys) || len(keys) != 4 {
		t.Errorf("Keys %q: not the four keys in order", keys)
	}
	if !maps.EqualFunc(v.Map(), m, bytes.Equal) {
		t.Errorf("Map %q, want %q", v.Map(), m)
	}
	if got := v.String(); got != "map[a:1 b:2 c:{x}:3 empty:]" {
		t.Errorf("String %q", got)
	}
	if v.Size() != 1+1+1+1+5+0+5+1 {
		t.Errorf("Size %d", v.Size())
	}
	// Equal contents are equal Values, whatever the order they were added in.
	var b store.ValuesBuilder
	for _, k := range []string{"empty", "c:{x}", "a", "b"} {
		b.Add(k, m[k])
	}
	if w := b.Values(); !reflect.DeepEqual(w, v) {
		t.Errorf("built in another order: %v != %v", w, v)
	}
}

// The Values own their bytes: changing what they were built from, or
// appending to what they hand out, changes nothing in them.
func TestValuesAreTheirOwn(t *testing.T) {
	src := []byte("abc")
	v := store.ValuesOf(map[string][]byte{"a": src, "b": []byte("xyz")})
	src[0] = 'X'
	a := v.Get("a")
	_ = append(a, "!!!"...)
	if got := v.String(); got != "map[a:abc b:xyz]" {
		t.Errorf("after changing the source and appending to a value: %s", got)
	}
}

func TestValuesBuilderLastAddWins(t *testing.T) {
	var b store.ValuesBuilder
	b.Add("k", []byte("1"))
	b.Add("j", []byte("j"))
	b.Add("k", []byte("2"))
	b.Add("k", []byte("3"))
	v := b.Values()
	if v.Len() != 2 || string(v.Get("k")) != "3" {
		t.Errorf("%v: want k=3 and j", v)
	}
	if w := b.Values(); !w.Empty() {
		t.Errorf("builder not reset: %v", w)
	}
	var zero store.Values
	if !zero.Empty() || zero.Len() != 0 || zero.Map() != nil || zero.Has("") || !reflect.DeepEqual(store.ValuesOf(nil), zero) {
		t.Error("the zero Values are not empty")
	}
}

func TestValuesLongKeysAndValues(t *testing.T) {
	long := strings.Repeat("k", 300) // a length of two varint bytes
	big := bytes.Repeat([]byte{0, 0xff}, 40000)
	v := store.ValuesOf(map[string][]byte{long: big, "s": {0}})
	if !bytes.Equal(v.Get(long), big) || !bytes.Equal(v.Get("s"), []byte{0}) {
		t.Error("long key or value not read back")
	}
}

func TestApplyOrder(t *testing.T) {
	base := store.ValuesOf(map[string][]byte{"a": []byte("1"), "b": []byte("2"), "c": []byte("3")})
	for _, tc := range []struct {
		name string
		c    store.Change
		want string
	}{
		{"set", store.Change{Set: map[string][]byte{"b": []byte("new"), "d": []byte("4")}}, "map[a:1 b:new c:3 d:4]"},
		{"delete", store.Change{Delete: []string{"a", "missing"}}, "map[b:2 c:3]"},
		{"delete then set", store.Change{Delete: []string{"a"}, Set: map[string][]byte{"a": []byte("back")}}, "map[a:back b:2 c:3]"},
		{"clear then set", store.Change{Clear: true, Set: map[string][]byte{"z": nil}}, "map[z:]"},
		{"clear", store.Change{Clear: true}, "map[]"},
		{"many deletes", store.Change{Delete: strings.Fields("a c x1 x2 x3 x4 x5 x6 x7 x8 x9")}, "map[b:2]"},
	} {
		got := tc.c.Apply(base)
		if got.String() != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
	if base.String() != "map[a:1 b:2 c:3]" {
		t.Errorf("Apply changed its input: %v", base)
	}
}

func TestValuesLookupDoesNotAllocate(t *testing.T) {
	v := store.ValuesOf(map[string][]byte{"a": []byte("1"), "cart": []byte("2"), "z": []byte("3")})
	if n := testing.AllocsPerRun(100, func() {
		v.Get("cart")
		for range v.All() {
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzApply checks Values and Change.Apply against a map, for any keys,
// values and change.
func FuzzApply(f *testing.F) {
	f.Add([]byte("a\x001\x00b\x002"), []byte("b\x00x\x00c\x00"), "a", false)
	f.Add([]byte(""), []byte("k\x00v"), "", true)
	f.Fuzz(func(t *testing.T, base, set []byte, del string, clearAll bool) {
		pairs := func(b []byte) map[string][]byte {
			m := map[string][]byte{}
			f := bytes.Split(b, []byte{0})
			for i := 0; i+1 < len(f); i += 2 {
				m[string(f[i])] = f[i+1]
			}
			return m
		}
		model := pairs(base)
		c := store.Change{Clear: clearAll, Set: pairs(set), Delete: strings.Split(del, ",")}
		got := c.Apply(store.ValuesOf(model))
		if clearAll {
			clear(model)
		}
		for _, k := range c.Delete {
			delete(model, k)
		}
		maps.Copy(model, c.Set)
		if !maps.EqualFunc(got.Map(), model, bytes.Equal) && !(len(model) == 0 && got.Empty()) {
			t.Fatalf("Apply: %v, want %q", got, model)
		}
		if got.Len() != len(model) {
			t.Fatalf("Len %d, want %d", got.Len(), len(model))
		}
	})
}
