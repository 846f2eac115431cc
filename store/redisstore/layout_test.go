package redisstore

import (
	"encoding/binary"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// encodeString is r as the scripts store it, with the index score score and,
// for a tombstone, the mark of the DeleteUser call that ended it. Its values
// are written in key order.
func encodeString(r *store.Record, score int64, mark string) string {
	b := []byte{kindRecord}
	if r.Moved != nil {
		b[0] = kindTombstone
	}
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = appendTime(b, r.LastSeen)
	b = appendTime(b, r.Expires)
	b = appendTime(b, r.Created)
	b = binary.BigEndian.AppendUint64(b, uint64(score))
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if r.Moved != nil {
		str(r.Moved.To)
		str(string(r.Moved.Sealed))
		str(mark)
		return string(b)
	}
	str(r.UserID)
	attrs, _ := encodeAttrs(r.Attrs)
	str(attrs)
	for k, v := range r.Values.All() {
		str(k)
		str(string(v))
	}
	return string(b)
}

// sameRecord reports whether two records are equal to the millisecond.
func sameRecord(a, b *store.Record) bool {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return zeroTime
		}
		return t.UnixMilli()
	}
	return a.Version == b.Version && a.UserID == b.UserID &&
		ms(a.Created) == ms(b.Created) && ms(a.LastSeen) == ms(b.LastSeen) && ms(a.Expires) == ms(b.Expires) &&
		maps.Equal(a.Attrs, b.Attrs) && reflect.DeepEqual(a.Values.Map(), b.Values.Map()) &&
		reflect.DeepEqual(a.Moved, b.Moved)
}

func TestDecodeString(t *testing.T) {
	at := time.UnixMilli(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixMilli())
	for _, r := range []*store.Record{
		{Version: 7, UserID: "alice", Created: at, LastSeen: at.Add(time.Millisecond), Expires: at.Add(time.Hour),
			Values: store.ValuesOf(map[string][]byte{"a": []byte("1"), "": []byte("empty key"), "e": {}, "long": make([]byte, 300)}),
			Attrs:  map[string]string{"ip": "::1", "ua": "x"}},
		{Version: 1},
		{Version: 1, Created: time.UnixMilli(-5), LastSeen: time.UnixMilli(0)},
		{Version: 3, Expires: at, Moved: &store.Moved{To: "abc", Sealed: []byte("\x00\xff")}},
		{Version: 1 << 60, Moved: &store.Moved{To: "x", Sealed: []byte{}}},
	} {
		got, err := decodeString(encodeString(r, 42, "m"))
		if err != nil {
			t.Errorf("%+v: %v", r, err)
			continue
		}
		if !sameRecord(got, r) {
			t.Errorf("decode(encode(%+v)) = %+v", r, got)
		}
	}

	// Pairs out of key order (a commit added a key) are sorted; a repeated
	// key is corrupt.
	rec := encodeString(&store.Record{Version: 1}, 0, "")
	unordered := rec + "\x01b\x012\x01a\x011"
	if got, err := decodeString(unordered); err != nil || got.Values.String() != store.ValuesOf(map[string][]byte{"a": []byte("1"), "b": []byte("2")}).String() {
		t.Errorf("unordered pairs: %v, %v", got, err)
	}

	for name, b := range map[string]string{
		"empty":                  "",
		"short header":           rec[:headerLen-1],
		"unknown kind":           "x" + rec[1:],
		"no user":                rec[:headerLen],
		"version 0":              rec[:offVersion] + "\x00\x00\x00\x00\x00\x00\x00\x00" + rec[offVersion+8:],
		"user past the end":      rec[:headerLen] + "\x05ab",
		"overlong length":        rec[:headerLen] + "\x80\x00\x00",
		"key without value":      rec + "\x01a",
		"value past the end":     rec + "\x01a\x05x",
		"repeated key":           rec + "\x01b\x011\x01a\x011\x01b\x012",
		"repeated key, in order": rec + "\x01a\x011\x01a\x012",
		"corrupt attributes":     rec[:headerLen] + "\x00\x02\x01a",
		"tombstone trailing":     encodeString(&store.Record{Version: 1, Moved: &store.Moved{To: "x"}}, 0, "") + "z",
		"tombstone short":        encodeString(&store.Record{Version: 1, Moved: &store.Moved{To: "x"}}, 0, "")[:headerLen+2],
	} {
		if got, err := decodeString(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %+v, %v; want ErrCorrupt", name, got, err)
		}
	}
}

// A session's string is untrusted: decoding never panics, and whatever it
// accepts it reads faithfully, as the scripts' layout says.
func FuzzDecodeString(f *testing.F) {
	at := time.UnixMilli(1_700_000_000_000)
	f.Add([]byte(encodeString(&store.Record{Version: 2, UserID: "u", Created: at, Expires: at,
		Values: store.ValuesOf(map[string][]byte{"k": []byte("v")}), Attrs: map[string]string{"a": "b"}}, 9, "")))
	f.Add([]byte(encodeString(&store.Record{Version: 3, Moved: &store.Moved{To: "to", Sealed: []byte("s")}}, 0, "mark")))
	f.Add([]byte(encodeString(&store.Record{Version: 1}, 0, "") + "\x01b\x00\x01a\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeString(string(data))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if rec.Version == 0 {
			t.Fatal("accepted version 0")
		}
		// Re-encoded (values in key order, the same score and mark), it
		// decodes to the same record.
		p, _ := parse(string(data))
		score := int64(beUint64(p.b[offScore:]))
		again, err := decodeString(encodeString(rec, score, p.m))
		if err != nil || !sameRecord(again, rec) {
			t.Fatalf("re-encoded: %+v, %v; want %+v", again, err, rec)
		}
	})
}
