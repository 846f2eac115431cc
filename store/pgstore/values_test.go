package pgstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

// storedLen returns the size of set as a jsonb value in Postgres, before
// compression: what pg_column_size reports for a fresh value. The size
// check's cheap upper bound relies on this layout: at least 8 bytes per
// entry, and base64, on top of what Record.Size counts. An object of strings is a 4-byte varlena header, a
// 4-byte container header, two 4-byte entries per pair, and the key and
// value bytes unescaped and unaligned. The test EncodedLenIsPostgres checks
// the formula against the server.
func storedLen(set map[string][]byte) int {
	n := 8
	for k, v := range set {
		n += 8 + len(k) + base64.StdEncoding.EncodedLen(len(v))
	}
	return n
}

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

// The size check's cheap bound assumes jsonb's layout: storedLen must be
// what pg_column_size says. And the encoder writes what jsonb's text output
// is, byte for byte but for key order.
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

// The size limit counts a record as store.Record.Size does (keys, raw
// values, user id), like every backend, not as jsonb holds it: exactly the
// limit fits and one byte more is refused, by Create (measured in Go) and by
// Update (measured by its statement, which must then change nothing), for
// every base64 padding, with plain and escaped user ids.
var _ = backendTest("SizeLimit", func(t *testing.T, pool *pgxpool.Pool) {
	const limit = 1000
	s := newStore(t, pool, WithMaxRecordSize(limit))
	ctx := ctxT(t)
	now := time.Now()
	create := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)}
	for _, user := range []string{"", "alice", "bad\x00\xff"} {
		for pad := range 3 { // value lengths ≡ 0, 1, 2 (mod 3): no padding, "==", "="
			name := fmt.Sprintf("user %q, value length mod 3 = %d", user, pad)
			// A record of exactly the limit: keys "a" and "bb", user.
			small := 300 + pad
			big := limit - len(user) - 3 - small
			rec := map[string][]byte{"a": make([]byte, small), "bb": make([]byte, big)}

			c := create
			c.UserID, c.Set = user, rec
			if _, err := s.Commit(ctx, newID(), c); err != nil {
				t.Errorf("%s: Create of exactly the limit: %v", name, err)
			}
			c.Set = map[string][]byte{"a": make([]byte, small+1), "bb": make([]byte, big)}
			wantTooLarge(t, name+": Create one byte over", s, newID(), c, limit+1)

			// Update: the record holds "a"; adding "bb" makes the limit,
			// a byte more does not, and neither fits alone in Go's check.
			id := newID()
			c.Set = map[string][]byte{"a": make([]byte, small)}
			if _, err := s.Commit(ctx, id, c); err != nil {
				t.Fatal(err)
			}
			before, _ := s.Load(ctx, id)
			grow := store.Change{Mode: store.Update, Set: map[string][]byte{"bb": make([]byte, big+1)}}
			wantTooLarge(t, name+": Update one byte over", s, id, grow, limit+1)
			if after, _ := s.Load(ctx, id); after == nil || after.Version != before.Version || after.Values.Len() != 1 {
				t.Errorf("%s: record after a refused Update: %+v, want it unchanged", name, after)
			}
			grow.Set["bb"] = make([]byte, big)
			if _, err := s.Commit(ctx, id, grow); err != nil {
				t.Errorf("%s: Update to exactly the limit: %v", name, err)
			}
			if after, _ := s.Load(ctx, id); after == nil || after.Size() != limit {
				t.Errorf("%s: record after growing to the limit: size %d, want %d", name, after.Size(), limit)
			}
		}
	}

	// Setting a longer user id counts too.
	id := newID()
	c := create
	c.UserID, c.Set = "u", map[string][]byte{"a": make([]byte, limit-2)}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	wantTooLarge(t, "Update setting a longer user id", s, id, store.Change{Mode: store.Update, SetUserID: true, UserID: "uu"}, limit+1)
	// Replacing a value by one of the same size fits.
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"a": make([]byte, limit-2)}}); err != nil {
		t.Errorf("Update replacing a value: %v", err)
	}
})

// The default limit is the contract's 1 MiB of Record.Size: an 800 KB value
// (which base64 in jsonb used to make fail) and a record of exactly 1 MiB
// are stored, by Create and by Update, and a byte more is refused. With
// incompressible values and with zeros, which Postgres compresses in the
// table: the limit counts the record, not what the table holds.
var _ = backendTest("SizeLimitDefault", func(t *testing.T, pool *pgxpool.Pool) {
	s := newStore(t, pool)
	ctx := ctxT(t)
	now := time.Now()
	const limit = store.DefaultMaxRecordSize
	user := "user-1"
	for name, value := range map[string]func(int) []byte{"random": randomBytes, "zeros": func(n int) []byte { return make([]byte, n) }} {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: user}
		c.Set = map[string][]byte{"v": value(800_000)}
		id := newID()
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatalf("%s: Create of an 800 KB value: %v", name, err)
		}
		rest := limit - 800_000 - len("v") - len(user) - len("w")
		wantTooLarge(t, name+": Update to 1 MiB + 1", s, id, store.Change{Mode: store.Update, Set: map[string][]byte{"w": value(rest + 1)}}, limit+1)
		if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"w": value(rest)}}); err != nil {
			t.Errorf("%s: Update to exactly 1 MiB: %v", name, err)
		}
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil || rec.Size() != limit {
			t.Fatalf("%s: Load: %v; want a record of %d bytes", name, err, limit)
		}
		wantTooLarge(t, name+": Update of the user id to 1 MiB + 1", s, id, store.Change{Mode: store.Update, SetUserID: true, UserID: user + "x"}, limit+1)
		c.Set = map[string][]byte{"v": value(limit - len("v") - len(user))}
		if _, err := s.Commit(ctx, newID(), c); err != nil {
			t.Errorf("%s: Create of exactly 1 MiB: %v", name, err)
		}
		c.Set["v"] = value(limit - len("v") - len(user) + 1)
		wantTooLarge(t, name+": Create of 1 MiB + 1", s, newID(), c, limit+1)
	}
})

func wantTooLarge(t *testing.T, what string, s *Store, id string, c store.Change, size int) {
	t.Helper()
	_, err := s.Commit(ctxT(t), id, c)
	var tl *store.TooLargeError
	if !errors.As(err, &tl) || tl.Size != size || tl.Limit != s.cfg.maxRecordSize {
		t.Errorf("%s: %v, want a TooLargeError of %d bytes, limit %d", what, err, size, s.cfg.maxRecordSize)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
