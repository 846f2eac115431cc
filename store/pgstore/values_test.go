package pgstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

func sampleValues() map[string][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	return map[string][]byte{
		"a":               []byte("1"),
		"empty":           {},
		"all-bytes":       all,
		"quote\"key":      []byte("q"),
		`back\slash`:      []byte("b"),
		"ctl\x01\x1f\t\n": []byte("c"),
		"ключ 日本 😀":       []byte("u"),
		"/slash<tag>&":    []byte("s"),
		"\u2028\u2029":    {0, 0},
	}
}

func equalValues(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

func TestValuesRoundTrip(t *testing.T) {
	for _, m := range []map[string][]byte{nil, {}, sampleValues(), {"k": nil}} {
		enc := appendValues(nil, m)
		if len(enc) != encodedLen(m) {
			t.Errorf("encodedLen = %d, encoding is %d bytes: %s", encodedLen(m), len(enc), enc)
		}
		got, err := decodeValues(enc)
		if err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		want := maps.Clone(m)
		if want == nil {
			want = map[string][]byte{}
		}
		for k, v := range want {
			if v == nil {
				want[k] = []byte{}
			}
		}
		if !equalValues(got, want) {
			t.Errorf("round trip of %q gave %q", m, got)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		in   string
		want map[string][]byte // nil: an error
		fast bool              // the fast path takes it
	}{
		{`{}`, map[string][]byte{}, true},
		{` { } `, map[string][]byte{}, true},
		{`{"a": "` + b64([]byte("xyz")) + `"}`, map[string][]byte{"a": []byte("xyz")}, true},
		{`{"a":"","b":"AA=="}`, map[string][]byte{"a": {}, "b": {0}}, true},
		{`{"a": "AA==", "a": "AQ=="}`, map[string][]byte{"a": {1}}, true}, // last wins, as in encoding/json
		{`{"q\"k": "AA=="}`, map[string][]byte{`q"k`: {0}}, false},
		{`{"\u00e9": "AA=="}`, map[string][]byte{"é": {0}}, false},
		{`{"a": "A A=="}`, nil, false},
		{`{"a": "AA="}`, nil, false},
		{`{"a": "!!!!"}`, nil, false},
		{`{"a": 1}`, nil, false},
		{`{"a": null}`, map[string][]byte{"a": {}}, false},
		{`{"a": "AA=="`, nil, false},
		{`{"a" "AA=="}`, nil, false},
		{`{"a": "AA==",}`, nil, false},
		{`{"a": "AA=="} x`, nil, false},
		{`[]`, nil, false},
		{`"x"`, nil, false},
		{`null`, nil, false},
		{``, nil, false},
		{"{\"\xff\": \"AA==\"}", map[string][]byte{"\ufffd": {0}}, false},
		{"{\"a\x01\": \"AA==\"}", nil, false},
	}
	for _, tc := range tests {
		got, err := decodeValues([]byte(tc.in))
		switch {
		case tc.want == nil && err == nil:
			t.Errorf("decodeValues(%s) = %q, want an error", tc.in, got)
		case tc.want != nil && err != nil:
			t.Errorf("decodeValues(%s): %v", tc.in, err)
		case tc.want != nil && !equalValues(got, tc.want):
			t.Errorf("decodeValues(%s) = %q, want %q", tc.in, got, tc.want)
		}
		if _, ok := decodeFast([]byte(tc.in)); ok != tc.fast {
			t.Errorf("decodeFast(%s) took it: %v, want %v", tc.in, ok, tc.fast)
		}
	}
}

// Values decoded by the fast path share one array; each must be capped, so
// that appending to one cannot overwrite the next.
func TestDecodedValuesAreCapped(t *testing.T) {
	m, ok := decodeFast([]byte(`{"a": "AAAA", "b": "AQEB"}`))
	if !ok {
		t.Fatal("fast path refused a simple object")
	}
	_ = append(m["a"], 9, 9, 9)
	_ = append(m["b"], 9, 9, 9)
	if !bytes.Equal(m["a"], []byte{0, 0, 0}) || !bytes.Equal(m["b"], []byte{1, 1, 1}) {
		t.Errorf("values changed by appends to their neighbours: %v", m)
	}
}

// FuzzDecodeValues: stored bytes are untrusted. decodeValues never panics;
// when the fast path accepts an input, encoding/json agrees with it; and what
// the encoder writes comes back the same.
func FuzzDecodeValues(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"a": "AA==", "b": ""}`))
	f.Add(appendValues(nil, sampleValues()))
	f.Add([]byte(`{"a": "AA==", "a": "AQ=="}`))
	f.Add([]byte(`{"\"": "AA=="}`))
	f.Add([]byte(`{"a":"AA=="} `))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeValues(raw)
		if fast, ok := decodeFast(raw); ok {
			slow, serr := decodeSlow(raw)
			if serr != nil {
				t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", raw, serr)
			}
			if !equalValues(fast, slow) {
				t.Fatalf("fast path decoded %q as %q, encoding/json as %q", raw, fast, slow)
			}
		}
		if err != nil {
			return
		}
		enc := appendValues(nil, got)
		again, err := decodeValues(enc)
		if err != nil || !equalValues(again, got) {
			t.Fatalf("re-encoding %q gave %s, which decodes to %q, %v", got, enc, again, err)
		}
	})
}

// The store measures a record in Go (Create) and in SQL (Update) by the
// same number: storedLen must be what pg_column_size says. And the encoder
// writes what jsonb's text output is, byte for byte but for key order.
var _ = backendTest("EncodedLenIsPostgres", func(t *testing.T, pool *pgxpool.Pool) {
	sets := []map[string][]byte{
		{},
		sampleValues(),
		{"k": bytes.Repeat([]byte{0xff}, 1000)},
		{strings.Repeat("é", 100): {1}, "x\x7f": {}, "tab\there": []byte("v")},
	}
	for _, m := range sets {
		enc := string(appendValues(nil, m))
		var n, size int
		var back string
		err := pool.QueryRow(ctxT(t), "SELECT octet_length($1::jsonb::text), $1::jsonb::text, pg_column_size($1::jsonb)", enc).
			Scan(&n, &back, &size)
		if err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if n != encodedLen(m) {
			t.Errorf("Postgres's text is %d bytes, encodedLen %d:\n ours %s\n pg   %s", n, encodedLen(m), enc, back)
		}
		if size != storedLen(m) {
			t.Errorf("Postgres's jsonb is %d bytes, storedLen %d: %s", size, storedLen(m), enc)
		}
		got, err := decodeValues([]byte(back))
		if err != nil || !equalValues(got, m) {
			t.Errorf("Postgres's text %s decodes to %q, %v; want %q", back, got, err, m)
		}
	}
})

// The size limit: a Create is measured in Go, exactly as Postgres would; an
// Update whose own values fit but whose result does not is refused by its
// statement, changing nothing.
var _ = backendTest("SizeLimit", func(t *testing.T, pool *pgxpool.Pool) {
	const limit = 1000
	s := newStore(t, pool, WithMaxRecordBytes(limit))
	ctx := ctxT(t)
	now := time.Now()
	create := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}

	// Exactly at the limit, and one byte over: 8 + 8 + 4 + 980 bytes.
	exact := map[string][]byte{"kkkk": make([]byte, 735)}
	if storedLen(exact) != limit {
		t.Fatalf("test bug: %d bytes", storedLen(exact))
	}
	c := create
	c.Set = exact
	if _, err := s.Commit(ctx, newID(), c); err != nil {
		t.Errorf("Create of exactly the limit: %v", err)
	}
	c.Set = map[string][]byte{"kkkkk": make([]byte, 735)}
	_, err := s.Commit(ctx, newID(), c)
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != limit+1 || tl.Limit != limit {
		t.Errorf("Create one byte over the limit: %v, want a TooLargeError of %d bytes", err, limit+1)
	}

	id := newID()
	c.Set = map[string][]byte{"a": make([]byte, 400)}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Load(ctx, id)
	grow := store.Change{Mode: store.Update, Set: map[string][]byte{"b": make([]byte, 400)}}
	_, err = s.Commit(ctx, id, grow)
	want := storedLen(map[string][]byte{"a": make([]byte, 400), "b": make([]byte, 400)})
	if !errors.As(err, &tl) || tl.Size != want || tl.Limit != limit {
		t.Errorf("Update growing past the limit: %v, want a TooLargeError of %d bytes", err, want)
	}
	if after, _ := s.Load(ctx, id); after == nil || after.Version != before.Version || len(after.Values) != 1 {
		t.Errorf("record after a refused Update: %+v, want it unchanged", after)
	}
	// Replacing a value by one of the same size fits.
	grow.Delete = []string{"a"}
	if _, err := s.Commit(ctx, id, grow); err != nil {
		t.Errorf("Update replacing a value: %v", err)
	}
})
