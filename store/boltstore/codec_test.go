package boltstore_test

import (
	"bytes"
	"encoding/hex"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

func sampleRecords() []*store.Record {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return []*store.Record{
		{Version: 1, Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour)},
		{Version: 7, UserID: "alice", Created: t0, LastSeen: t0.Add(time.Second), Expires: t0.Add(time.Hour),
			Values: store.ValuesOf(map[string][]byte{"a": []byte("1"), "": nil, "empty": {}, "bin": {0, 1, 255}})},
		{Version: 9, Created: time.Time{}, LastSeen: time.Unix(-5, 999999999), Expires: t0,
			Moved: &store.Moved{To: strings.Repeat("f", 64), Sealed: []byte("sealed")}},
		{Version: 3, Moved: &store.Moved{To: "x"}, Expires: t0},
		{Version: 2, UserID: "bob", Created: t0, LastSeen: t0, Expires: t0.Add(time.Hour),
			Values: store.ValuesOf(map[string][]byte{"k": []byte("v")}), Attrs: map[string]string{"device": "Alice's laptop", "ip": "2001:db8::1"}},
		{Version: 4, Expires: t0, Attrs: map[string]string{
			"$where": "function() { return true }", "a.b": "dotted", "": "empty key", "empty": "",
			`"quoted'`: `'); DROP TABLE sessions; --`, "ключ": "значение ✓", strings.Repeat("k", 64): strings.Repeat("v", 256),
		}},
	}
}

func sameRecord(a, b *store.Record) bool {
	if a.Version != b.Version || a.UserID != b.UserID || !a.Created.Equal(b.Created) ||
		!a.LastSeen.Equal(b.LastSeen) || !a.Expires.Equal(b.Expires) || (a.Moved == nil) != (b.Moved == nil) {
		return false
	}
	if a.Moved != nil && (a.Moved.To != b.Moved.To || !bytes.Equal(a.Moved.Sealed, b.Moved.Sealed)) {
		return false
	}
	return sameMeta(a, b) && maps.EqualFunc(a.Values.Map(), b.Values.Map(), bytes.Equal)
}

// sameMeta compares what decodeMeta returns: everything but the values.
func sameMeta(a, b *store.Record) bool {
	if a.Version != b.Version || a.UserID != b.UserID || !a.Created.Equal(b.Created) ||
		!a.LastSeen.Equal(b.LastSeen) || !a.Expires.Equal(b.Expires) || (a.Moved == nil) != (b.Moved == nil) {
		return false
	}
	if a.Moved != nil && (a.Moved.To != b.Moved.To || !bytes.Equal(a.Moved.Sealed, b.Moved.Sealed)) {
		return false
	}
	return maps.Equal(a.Attrs, b.Attrs) && len(a.Attrs) == len(b.Attrs)
}

// goldenV1 is sampleRecordV1 as the previous release (format 1 only, before
// attributes) encoded it, written down byte for byte.
const goldenV1 = "010007cad4ea8d0e06ccd4ea8d0e06ea8ceb8d0e0605616c6963650101610131"

func sampleRecordV1() *store.Record {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	return &store.Record{Version: 7, UserID: "alice", Created: t0, LastSeen: t0.Add(time.Second), Expires: t0.Add(time.Hour),
		Values: store.ValuesOf(map[string][]byte{"a": []byte("1")})}
}

// A record of the previous release decodes with no attributes, and one
// without attributes is still written in its format, byte for byte, so that
// the previous release can open the file again (a rollback).
func TestPreviousRecordFormat(t *testing.T) {
	golden, _ := hex.DecodeString(goldenV1)
	for name, decode := range map[string]func([]byte) (*store.Record, error){"decodeRecord": boltstore.DecodeRecord, "decodeMeta": boltstore.DecodeMeta} {
		got, err := decode(golden)
		if err != nil {
			t.Fatalf("%s of the previous release's record: %v", name, err)
		}
		if got.Attrs != nil || !sameMeta(got, sampleRecordV1()) {
			t.Errorf("%s of the previous release's record: %+v", name, got)
		}
	}
	if got, _ := boltstore.DecodeRecord(golden); !sameRecord(got, sampleRecordV1()) {
		t.Errorf("decodeRecord of the previous release's record: %+v", got)
	}
	for _, attrs := range []map[string]string{nil, {}} {
		rec := sampleRecordV1()
		rec.Attrs = attrs
		if b := boltstore.EncodeRecord(rec); !bytes.Equal(b, golden) {
			t.Errorf("a record with attributes %#v encodes to %x, not the previous release's %x", attrs, b, golden)
		}
	}
	rec := sampleRecordV1()
	rec.Attrs = map[string]string{"a": "b"}
	if b := boltstore.EncodeRecord(rec); b[0] != 2 {
		t.Errorf("a record with attributes is written in format %d, want 2", b[0])
	}
}

// goldenV2 is sampleRecordV1 with attributes {"device": "phone", "$where":
// "x"} in format 2, written down so that a later change of the format cannot
// go unnoticed: files holding it must keep opening after an upgrade.
const goldenV2 = "020007cad4ea8d0e06ccd4ea8d0e06ea8ceb8d0e0605616c69636502062477686572650178066465766963650570686f6e650101610131"

func TestRecordFormat2Golden(t *testing.T) {
	want := sampleRecordV1()
	want.Attrs = map[string]string{"device": "phone", "$where": "x"}
	golden, _ := hex.DecodeString(goldenV2)
	if b := boltstore.EncodeRecord(want); !bytes.Equal(b, golden) {
		t.Errorf("format 2 changed: %x, was %x", b, golden)
	}
	if got, err := boltstore.DecodeRecord(golden); err != nil || !sameRecord(got, want) {
		t.Errorf("decodeRecord(golden) = %+v, %v", got, err)
	}
}

// Short hostile inputs declaring huge counts or lengths fail without
// allocating by the declared sizes.
func TestDecodeRecordAllocationBounded(t *testing.T) {
	for _, in := range [][]byte{
		{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0},
		{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		for name, decode := range map[string]func([]byte) (*store.Record, error){"decodeRecord": boltstore.DecodeRecord, "decodeMeta": boltstore.DecodeMeta} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 100
			for range runs {
				if _, err := decode(in); err == nil {
					t.Fatalf("%s decoded %x", name, in)
				}
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 1024 {
				t.Errorf("%s of %x: %d bytes allocated a decode", name, in, per)
			}
		}
	}
}

// decodeMeta agrees with decodeRecord on everything but the values.
func TestDecodeMeta(t *testing.T) {
	for _, rec := range sampleRecords() {
		got, err := boltstore.DecodeMeta(boltstore.EncodeRecord(rec))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Values.Empty() || !sameMeta(got, rec) {
			t.Errorf("decodeMeta:\n got  %+v\n want %+v", got, rec)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, rec := range sampleRecords() {
		got, err := boltstore.DecodeRecord(boltstore.EncodeRecord(rec))
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !sameRecord(got, rec) {
			t.Errorf("round trip:\n got  %+v\n want %+v", got, rec)
		}
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := boltstore.EncodeRecord(sampleRecords()[1])
	cases := map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{2}, good[1:]...),
		"unknown flag":   append([]byte{1, 0x80}, good[2:]...),
		"trailing byte":  append(bytes.Clone(good), 0),
		"truncated":      good[:len(good)-1],
		"huge count":     {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad nanos":      {1, 0, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03},
		"duplicate key":  {1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 'a', 0, 1, 'a', 0},
	}
	// Format 2: the attributes come after the user id (here empty).
	head := []byte{2, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	for name, tail := range map[string][]byte{
		"no attribute count":       {},
		"zero attributes":          {0, 0},
		"huge attribute count":     {0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"attribute count too high": {3, 0, 0, 0},
		"attribute key past end":   {1, 9, 'k', 0, 0},
		"attribute value past end": {1, 1, 'k', 9, 'v', 0},
		"duplicate attribute":      {2, 1, 'a', 0, 1, 'a', 0, 0},
		"attributes out of order":  {2, 1, 'b', 0, 1, 'a', 0, 0},
		"no value count":           {1, 1, 'a', 0},
		"value past end":           {1, 1, 'a', 0, 1, 1, 'k', 9},
		"trailing byte v2":         {1, 1, 'a', 0, 0, 0},
	} {
		cases[name] = append(bytes.Clone(head), tail...)
	}
	for name, b := range cases {
		if _, err := boltstore.DecodeRecord(b); err == nil {
			t.Errorf("%s: decoded, want an error", name)
		}
		if _, err := boltstore.DecodeMeta(b); err == nil && name != "duplicate key" {
			t.Errorf("%s: decodeMeta decoded, want an error", name)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(boltstore.EncodeRecord(rec))
	}
	f.Add([]byte{1, 0})
	f.Add([]byte{2, 0})
	golden, _ := hex.DecodeString(goldenV1)
	f.Add(golden)
	golden2, _ := hex.DecodeString(goldenV2)
	f.Add(golden2)
	f.Add([]byte{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := boltstore.DecodeRecord(b)
		meta, merr := boltstore.DecodeMeta(b)
		if err != nil {
			return
		}
		// What decodes, decodeMeta decodes alike, without the values.
		if merr != nil || !meta.Values.Empty() || !sameMeta(meta, rec) {
			t.Fatalf("decodeMeta of %x = %+v, %v; decodeRecord = %+v", b, meta, merr, rec)
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := boltstore.DecodeRecord(boltstore.EncodeRecord(rec))
		if err != nil || !sameRecord(rec, again) {
			t.Fatalf("re-encoding %x: %v", b, err)
		}
	})
}

func FuzzParseExpiryKey(f *testing.F) {
	f.Add(boltstore.ExpiryKey(time.Date(2030, 1, 1, 0, 0, 0, 5, time.UTC), "id"))
	f.Add(boltstore.ExpiryKey(time.Time{}, "x"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		exp, id, err := boltstore.ParseExpiryKey(k)
		if err != nil {
			return
		}
		if again := boltstore.ExpiryKey(exp, id); !bytes.Equal(again, k) {
			t.Fatalf("%x parsed to %v %q, which encodes to %x", k, exp, id, again)
		}
	})
}

// Expiry keys sort in time order, before 1970 too.
func TestExpiryKeyOrder(t *testing.T) {
	times := []time.Time{time.Time{}, time.Unix(-1, 0), time.Unix(-1, 5), time.Unix(0, 0), time.Unix(0, 1), time.Unix(1<<40, 0)}
	for i := 1; i < len(times); i++ {
		a, b := boltstore.ExpiryKey(times[i-1], "z"), boltstore.ExpiryKey(times[i], "a")
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("key of %v does not sort before key of %v", times[i-1], times[i])
		}
	}
}

func FuzzParseUserKey(f *testing.F) {
	f.Add(boltstore.UserKey("alice", "id"))
	f.Add(boltstore.UserKey("", "id"))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, k []byte) {
		user, id, err := boltstore.ParseUserKey(k)
		if err != nil {
			return
		}
		if again := boltstore.UserKey(user, id); !bytes.Equal(again, k) {
			// Varints have non-minimal encodings; the store writes only
			// minimal ones, and a non-minimal key is merely never found.
			if _, _, err2 := boltstore.ParseUserKey(again); err2 != nil {
				t.Fatalf("%x parsed to %q %q, whose key does not parse: %v", k, user, id, err2)
			}
		}
	})
}

// One user's key range holds no other user's keys, whatever the ids.
func TestUserKeyPrefixes(t *testing.T) {
	a := boltstore.UserKey("ab", "c")
	b := boltstore.UserKey("a", "bc")
	if bytes.Equal(a, b) || bytes.HasPrefix(b, boltstore.UserKey("ab", "")) {
		t.Errorf("user keys collide: %x %x", a, b)
	}
}
