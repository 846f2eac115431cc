package memcachestore

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestIndexRoundTrip(t *testing.T) {
	for _, x := range []*index{
		newIndex(),
		{expires: 1_800_000_000, entries: map[string]int64{"a": 1}},
		{expires: 1_800_000_000, entries: map[string]int64{
			strings.Repeat("f", 64): 1_700_000_000,
			strings.Repeat("0", 64): 1_700_000_001,
			"b":                     0,
		}},
	} {
		b := x.marshal()
		got, err := unmarshalIndex(b)
		if err != nil {
			t.Fatalf("unmarshal(marshal(%v)): %v", x, err)
		}
		if got.expires != x.expires || !maps.Equal(got.entries, x.entries) {
			t.Errorf("round trip of %v = %v", x, got)
		}
		if !bytes.Equal(got.marshal(), b) {
			t.Errorf("encoding of %v is not deterministic", x)
		}
	}
}

func TestIndexCorrupt(t *testing.T) {
	good := (&index{expires: 5, entries: map[string]int64{"a": 1, "b": 2}}).marshal()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{2}, good[1:]...)},
		{"truncated expiry", []byte{1, 0x80}},
		{"no count", []byte{1, 5}},
		{"count beyond input", []byte{1, 5, 100, 1, 'a', 1}},
		{"zero-length ID", []byte{1, 5, 1, 0, 1}},
		{"ID beyond input", []byte{1, 5, 1, 9, 'a', 1}},
		{"truncated time", []byte{1, 5, 1, 1, 'a'}},
		{"time overflow", []byte{1, 5, 1, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"duplicate ID", []byte{1, 5, 2, 1, 'a', 1, 1, 'a', 2}},
		{"IDs out of order", []byte{1, 5, 2, 1, 'b', 1, 1, 'a', 2}},
		{"trailing bytes", append(bytes.Clone(good), 0)},
		{"truncated", good[:len(good)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if x, err := unmarshalIndex(tc.b); !errors.Is(err, errIndexCorrupt) {
				t.Errorf("unmarshalIndex(%x) = %v, %v; want an error matching errIndexCorrupt", tc.b, x, err)
			}
		})
	}
}

// FuzzUnmarshalIndex: any bytes under a user index key may be hostile. The
// decoder must not panic, and what it accepts must re-encode to the same
// bytes (so there is one encoding per index, and nothing is silently lost).
func FuzzUnmarshalIndex(f *testing.F) {
	f.Add([]byte{})
	f.Add(newIndex().marshal())
	f.Add((&index{expires: 1_800_000_000, entries: map[string]int64{strings.Repeat("a", 64): 1_700_000_000, "b": 3}}).marshal())
	f.Add([]byte{1, 5, 100, 1, 'a', 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := unmarshalIndex(b)
		if err != nil {
			return
		}
		if len(x.entries) > len(b) {
			t.Fatalf("%d entries from %d bytes", len(x.entries), len(b))
		}
		if again := x.marshal(); !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, again)
		}
	})
}
