package attrcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
)

func samples() map[string]map[string]string {
	return map[string]map[string]string{
		"one":    {"device": "Alice's laptop"},
		"device": {"device": "Alice's laptop", "ua": "Mozilla/5.0 (X11; Linux x86_64)", "ip": "2001:db8::1"},
		"hostile": {
			"$where": "function() { return true }", "a.b": "dotted", "": "empty key", "empty": "",
			`"quoted'`: `'); DROP TABLE sessions; --`, "ключ": "значение ✓", "%s%n": "\\x00",
			strings.Repeat("k", 64): strings.Repeat("v", 256), "json": `{"a":[1,2]}`,
			"nul\x00key": "nul\x00value", "\xff": "not UTF-8 \xfe",
		},
		"long": {"k": strings.Repeat("x", 70000)},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, attrs := range samples() {
		b := Encode(attrs)
		if len(b) != EncodedLen(attrs) {
			t.Errorf("%s: EncodedLen %d, Encode wrote %d bytes", name, EncodedLen(attrs), len(b))
		}
		if got := int(binary.BigEndian.Uint32(b[1:HeaderLen])); got != Size(attrs) {
			t.Errorf("%s: size header %d, want %d", name, got, Size(attrs))
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: Decode: %v", name, err)
		}
		if !maps.Equal(got, attrs) {
			t.Errorf("%s: round trip gave %q, want %q", name, got, attrs)
		}
		if again := Encode(got); !bytes.Equal(again, b) {
			t.Errorf("%s: encoding is not deterministic", name)
		}
	}
}

func TestNone(t *testing.T) {
	for _, attrs := range []map[string]string{nil, {}} {
		if b := Encode(attrs); b != nil {
			t.Errorf("Encode(%#v) = %x, want nil", attrs, b)
		}
	}
	for _, b := range [][]byte{nil, {}} {
		if m, err := Decode(b); m != nil || err != nil {
			t.Errorf("Decode(%#v) = %v, %v, want nil, nil", b, m, err)
		}
	}
}

func TestCorrupt(t *testing.T) {
	good := Encode(map[string]string{"a": "1", "b": "22"})
	withSize := func(b []byte, size uint32) []byte {
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[1:], size)
		return b
	}
	cases := map[string][]byte{
		"version":       append([]byte{2}, good[1:]...),
		"short header":  good[:3],
		"no count":      good[:HeaderLen],
		"zero count":    {1, 0, 0, 0, 0, 0},
		"huge count":    append(withSize(good[:HeaderLen], 0), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"truncated":     good[:len(good)-1],
		"trailing":      append(bytes.Clone(good), 0),
		"wrong size":    withSize(good, 4),
		"long key":      {1, 0, 0, 0, 1, 1, 0x7f, 'a', 0},
		"varint":        {1, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"duplicate key": {1, 0, 0, 0, 2, 2, 1, 'a', 0, 1, 'a', 0},
		"unordered":     {1, 0, 0, 0, 2, 2, 1, 'b', 0, 1, 'a', 0},
	}
	for name, b := range cases {
		m, err := Decode(b)
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Errorf("%s: Decode(%x) = %q, %v, want a *CorruptError", name, b, m, err)
		}
	}
}

// FuzzDecode: any input either fails with a *CorruptError or decodes to
// attributes that encode back to exactly the input.
func FuzzDecode(f *testing.F) {
	for _, attrs := range samples() {
		f.Add(Encode(attrs))
	}
	f.Add([]byte{1, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Decode error %v is not a *CorruptError", err)
			}
			return
		}
		if again := Encode(m); !bytes.Equal(again, b) && len(b) > 0 {
			t.Fatalf("Decode(%x) = %q, which encodes to %x", b, m, again)
		}
	})
}

func ExampleEncode() {
	b := Encode(map[string]string{"device": "laptop"})
	attrs, _ := Decode(b)
	fmt.Println(len(b), attrs["device"])
	// Output: 20 laptop
}
