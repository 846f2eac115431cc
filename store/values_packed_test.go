package store

import "testing"

func TestPackedValues(t *testing.T) {
	for _, m := range []map[string][]byte{
		nil,
		{"a": []byte("1")},
		{"": {}, "a": []byte("x"), "ab": make([]byte, 200), "b": []byte("\x00\xff")},
	} {
		want := ValuesOf(m)
		got, ok := PackedValues(want.b)
		if !ok || got.b != want.b {
			t.Errorf("PackedValues(the packing of %v) = %v, %v", m, got, ok)
		}
	}
	for name, b := range map[string]string{
		"truncated length": "\x80",
		"key past the end": "\x05ab",
		"no value":         "\x01a",
		"value past end":   "\x01a\x05x",
		"not minimal":      "\x81\x00a\x00",
		"unordered":        "\x01b\x00\x01a\x00",
		"repeated":         "\x01a\x00\x01a\x00",
		"overlong":         "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	} {
		if v, ok := PackedValues(b); ok {
			t.Errorf("%s: PackedValues(%q) = %v, true", name, b, v)
		}
	}
}

// Whatever PackedValues accepts is exactly what the builder packs for the
// same pairs: one packing per content, so Values compare by content.
func FuzzPackedValues(f *testing.F) {
	f.Add([]byte(ValuesOf(map[string][]byte{"a": []byte("1"), "b": nil}).b))
	f.Add([]byte("\x01b\x00\x01a\x00"))
	f.Add([]byte("\x81\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := PackedValues(string(b))
		if !ok {
			return
		}
		if again := ValuesOf(v.Map()); again.b != v.b {
			t.Fatalf("accepted %q, which the builder packs as %q", b, again.b)
		}
	})
}
