package redisstore

import (
	"bytes"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

func TestDecodeHash(t *testing.T) {
	ms := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixMilli()
	at := time.UnixMilli(ms)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		err    bool
		check  func(t *testing.T, fields map[string]string)
	}{
		{name: "session", fields: map[string]string{
			"m:v": "7", "m:u": "alice", "m:c": itoa(ms), "m:l": itoa(ms + 1), "m:e": itoa(ms + 2), "m:n": "5",
			"v:a": "1", "v:": "empty key", "v:v:x": "nested", "v:m:v": "not metadata", "v:e": "",
		}},
		{name: "tombstone", fields: map[string]string{"m:v": "3", "m:to": "abc", "m:sealed": "\x00\xff", "m:e": itoa(ms)}},
		{name: "no times", fields: map[string]string{"m:v": "1"}},
		{name: "empty times", fields: map[string]string{"m:v": "1", "m:c": "", "m:l": "", "m:e": ""}},
		{name: "unknown fields", fields: map[string]string{"m:v": "1", "m:future": "x", "other": "y"}},
		{name: "negative time", fields: map[string]string{"m:v": "1", "m:c": "-5"}},
		{name: "no version", fields: map[string]string{"v:a": "1", "m:e": itoa(ms)}, err: true},
		{name: "bad version", fields: map[string]string{"m:v": "x"}, err: true},
		{name: "negative version", fields: map[string]string{"m:v": "-1"}, err: true},
		{name: "huge version", fields: map[string]string{"m:v": "99999999999999999999"}, err: true},
		{name: "bad time", fields: map[string]string{"m:v": "1", "m:e": "1.5"}, err: true},
		{name: "time with spaces", fields: map[string]string{"m:v": "1", "m:l": " 1"}, err: true},
		{name: "time with a sign", fields: map[string]string{"m:v": "1", "m:l": "+1"}, err: true},
		{name: "time with a leading zero", fields: map[string]string{"m:v": "1", "m:l": "01"}, err: true},
		{name: "tombstone with values", fields: map[string]string{"m:v": "1", "m:to": "x", "v:a": "1"}, err: true},
		{name: "tombstone with user", fields: map[string]string{"m:v": "1", "m:to": "x", "m:u": "bob"}, err: true},
		{name: "attributes", fields: map[string]string{"m:v": "1", "m:a": "\x01a\x011\x02ip\x03::1", "v:m:a": "not metadata"}},
		{name: "empty attributes field", fields: map[string]string{"m:v": "1", "m:a": ""}},
		{name: "corrupt attributes", fields: map[string]string{"m:v": "1", "m:a": "\x01a"}, err: true},
		{name: "tombstone with attributes", fields: map[string]string{"m:v": "1", "m:to": "x", "m:a": "\x01a\x011"}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := decodeHash(tc.fields)
			if tc.err {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("decode = %+v, %v; want ErrCorrupt", rec, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			wantDecoded(t, tc.fields, rec)
		})
	}
	rec, _ := decodeHash(map[string]string{"m:v": "7", "m:c": itoa(ms)})
	if !rec.Created.Equal(at) || !rec.LastSeen.IsZero() {
		t.Errorf("times = %v, %v; want %v and zero", rec.Created, rec.LastSeen, at)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// wantDecoded checks a decoded record against its fields: every "v:" field is
// a value, byte for byte, and the metadata is what the fields say.
func wantDecoded(t *testing.T, fields map[string]string, r *store.Record) {
	t.Helper()
	values := 0
	for f, v := range fields {
		if k, ok := strings.CutPrefix(f, "v:"); ok {
			values++
			got, ok := r.Values.Lookup(k)
			if !ok || got == nil || !bytes.Equal(got, []byte(v)) {
				t.Errorf("value %q = %q (present %v), want %q", k, got, ok, v)
			}
			if cap(got) != len(got) { // an append must not reach past the value
				t.Errorf("value %q: capacity %d past its length %d", k, cap(got), len(got))
			}
		}
	}
	if r.Values.Len() != values {
		t.Errorf("%d values, want %d", r.Values.Len(), values)
	}
	if want, _ := decodeAttrs(fields["m:a"]); !maps.Equal(r.Attrs, want) {
		t.Errorf("Attrs = %q, want %q", r.Attrs, want)
	}
	if r.UserID != fields["m:u"] {
		t.Errorf("UserID = %q, want %q", r.UserID, fields["m:u"])
	}
	if _, moved := fields["m:to"]; moved != (r.Moved != nil) {
		t.Errorf("Moved = %v, want tombstone %v", r.Moved, moved)
	} else if moved && (r.Moved.To != fields["m:to"] || string(r.Moved.Sealed) != fields["m:sealed"]) {
		t.Errorf("Moved = %+v, want %q %q", r.Moved, fields["m:to"], fields["m:sealed"])
	}
	for f, got := range map[string]time.Time{"m:c": r.Created, "m:l": r.LastSeen, "m:e": r.Expires} {
		switch want := fields[f]; {
		case want == "" && !got.IsZero():
			t.Errorf("%s = %q decoded to %v, want the zero time", f, want, got)
		case want != "" && strconv.FormatInt(got.UnixMilli(), 10) != want:
			t.Errorf("%s = %q decoded to %v (%d ms)", f, want, got, got.UnixMilli())
		}
	}
}

// The fields of a stored hash are untrusted: decoding never panics, and
// whatever it accepts, it reads faithfully.
func FuzzDecodeHash(f *testing.F) {
	f.Add([]byte("m:v\x001\x00v:a\x00b"))
	f.Add([]byte("m:v\x003\x00m:to\x00abc\x00m:sealed\x00\xff\x00m:e\x001700000000000"))
	f.Add([]byte("m:v\x00x"))
	f.Add([]byte("m:v\x001\x00m:c\x00-9223372036854775808\x00m:e\x009223372036854775807"))
	f.Add([]byte("v:\x00\x00m:v\x0018446744073709551615\x00m:u\x00\x00"))
	f.Add([]byte("m:v\x001\x00m:a\x00\x01a\x011"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parts := strings.Split(string(data), "\x00")
		fields := make(map[string]string, len(parts)/2)
		for i := 0; i+1 < len(parts); i += 2 {
			fields[parts[i]] = parts[i+1]
		}
		rec, err := decodeHash(fields)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if _, ok := fields["m:v"]; !ok {
			t.Fatal("accepted a record without a version")
		}
		wantDecoded(t, fields, rec)
	})
}
