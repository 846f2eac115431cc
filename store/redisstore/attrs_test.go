package redisstore

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestAttrsEncoding(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]string
		field string
	}{
		{"none", nil, ""},
		{"empty", map[string]string{}, ""},
		{"one", map[string]string{"ip": "::1"}, "\x02ip\x03::1"},
		{"sorted", map[string]string{"b": "2", "a": "1"}, "\x01a\x011\x01b\x012"},
		{"empty key and value", map[string]string{"": ""}, "\x00\x00"},
		{"long value", map[string]string{"k": strings.Repeat("v", 200)}, "\x01k\xc8\x01" + strings.Repeat("v", 200)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, size := encodeAttrs(tc.attrs)
			if field != tc.field {
				t.Errorf("encodeAttrs = %q, want %q", field, tc.field)
			}
			want := 0
			for k, v := range tc.attrs {
				want += len(k) + len(v)
			}
			if size != want {
				t.Errorf("size = %d, want %d", size, want)
			}
			got, err := decodeAttrs(field)
			if err != nil || !maps.Equal(got, tc.attrs) {
				t.Errorf("decodeAttrs(%q) = %q, %v; want %q", field, got, err, tc.attrs)
			}
		})
	}

	// Keys and values are bytes: quotes, separators, NULs, a length prefix's
	// own bytes, unicode and 64-byte keys come back as they went.
	hostile := map[string]string{
		"$where": "function() { return true }", "a.b": "dotted", "": "empty key", "empty": "",
		`"quoted'`: `'); DROP TABLE sessions; --`, "ключ": "значение ✓", "\x00\x01\x80": "\xff\x00",
		strings.Repeat("k", 64): strings.Repeat("v", 256), "json": `{"a":[1,2]}`,
	}
	field, _ := encodeAttrs(hostile)
	if got, err := decodeAttrs(field); err != nil || !maps.Equal(got, hostile) {
		t.Errorf("hostile attributes came back as %q, %v", got, err)
	}
	// Two bytes of framing per attribute of short strings, no more.
	device := map[string]string{"device": "Alice's laptop", "ua": "Mozilla/5.0 (X11; Linux x86_64)", "ip": "2001:db8::1"}
	if field, size := encodeAttrs(device); len(field)-size != 2*len(device) {
		t.Errorf("%d attributes of %d bytes take %d bytes encoded, want %d", len(device), size, len(field), size+2*len(device))
	}
}

func TestDecodeAttrsCorrupt(t *testing.T) {
	for _, tc := range []struct{ name, field string }{
		{"key without a value", "\x01a"},
		{"truncated key", "\x05ab"},
		{"truncated value", "\x01a\x05ab"},
		{"truncated length", "\x80"},
		{"length past the end", "\x01a\xff\xff\xff\xff\x0f"},
		{"length not minimal", "\x81\x00a\x011"},
		{"length overflows", "\x01a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
		{"length of eleven bytes", "\x01a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00"},
		{"duplicate key", "\x01a\x011\x01a\x012"},
		{"descending keys", "\x01b\x011\x01a\x012"},
		{"trailing byte", "\x01a\x011\x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAttrs(tc.field)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeAttrs(%q) = %q, %v; want ErrCorrupt", tc.field, got, err)
			}
		})
	}
}

// The m:a field is untrusted: decoding never panics, refuses with ErrCorrupt,
// and what it accepts is exactly the canonical encoding of what it returns.
func FuzzDecodeAttrs(f *testing.F) {
	for _, a := range []map[string]string{
		{"ip": "::1"}, {"": ""}, {"a": "1", "b": "2"}, {"k": strings.Repeat("v", 200)},
		{"$where": "x", "a.b": "y", "ключ": "значение"},
	} {
		field, _ := encodeAttrs(a)
		f.Add(field)
	}
	f.Add("\x01a")
	f.Add("\x81\x00a\x011")
	f.Add("\x01b\x011\x01a\x012")
	f.Add("\x01a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Fuzz(func(t *testing.T, field string) {
		attrs, err := decodeAttrs(field)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		again, size := encodeAttrs(attrs)
		if again != field {
			t.Fatalf("decoded %q to %q, which encodes to %q", field, attrs, again)
		}
		if size > len(field) {
			t.Fatalf("%q counts %d bytes, more than its field's %d", attrs, size, len(field))
		}
	})
}
