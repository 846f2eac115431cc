package boltstore_test

import (
	"bytes"
	"maps"
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
			Values: map[string][]byte{"a": []byte("1"), "": nil, "empty": {}, "bin": {0, 1, 255}}},
		{Version: 9, Created: time.Time{}, LastSeen: time.Unix(-5, 999999999), Expires: t0,
			Moved: &store.Moved{To: strings.Repeat("f", 64), Sealed: []byte("sealed")}},
		{Version: 3, Moved: &store.Moved{To: "x"}, Expires: t0},
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
	return maps.EqualFunc(a.Values, b.Values, bytes.Equal) && len(a.Values) == len(b.Values)
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
	for name, b := range cases {
		if _, err := boltstore.DecodeRecord(b); err == nil {
			t.Errorf("%s: decoded, want an error", name)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, rec := range sampleRecords() {
		f.Add(boltstore.EncodeRecord(rec))
	}
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := boltstore.DecodeRecord(b)
		if err != nil {
			return
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
