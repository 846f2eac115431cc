package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

// A record loaded before many more writes (which grow the file and make bbolt
// remap it) keeps its bytes: nothing in its Values points into the old map.
// Empty and missing stay distinct, and a large value (multi-byte length)
// reads back whole.
func TestLoadedValuesOutliveRemap(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"), boltstore.WithMaxRecordSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	id := fmt.Sprintf("%064x", 1)
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"empty": {}, "big": big, "k": []byte("v")}}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Load(ctx, id)
	if err != nil || rec == nil {
		t.Fatal(rec, err)
	}
	check := func(when string) {
		t.Helper()
		if v, ok := rec.Values.Lookup("empty"); !ok || v == nil || len(v) != 0 {
			t.Errorf("%s: empty = %q, %v", when, v, ok)
		}
		if rec.Values.Has("missing") {
			t.Errorf("%s: missing key present", when)
		}
		if !bytes.Equal(rec.Values.Get("big"), big) || string(rec.Values.Get("k")) != "v" || rec.Values.Len() != 3 {
			t.Errorf("%s: values changed: %d keys", when, rec.Values.Len())
		}
	}
	check("after load")
	// Grow the file well past its first mapping, and rewrite the record.
	for i := range 60 {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			Set: map[string][]byte{"big": bytes.Repeat([]byte{byte(i)}, 300000)}}
		if _, err := s.Commit(ctx, fmt.Sprintf("%064x", 100+i), c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Delete: []string{"k"}, Set: map[string][]byte{"big": []byte("small")}}); err != nil {
		t.Fatal(err)
	}
	check("after remaps and a rewrite")
	rec2, _ := s.Load(ctx, id)
	if rec2 == nil || rec2.Values.String() != "map[big:small empty:]" {
		t.Errorf("rewritten record: %v", rec2.Values)
	}
}

// A record of the previous release, whose values were written in map order
// (not sorted), still decodes; a repeated key is still refused.
func TestDecodeUnsortedAndDuplicate(t *testing.T) {
	head := []byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 0}
	unsorted := append(append([]byte{}, head...), 3, 1, 'c', 1, '3', 1, 'a', 0, 1, 'b', 1, '2')
	rec, err := boltstore.DecodeRecord(unsorted)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Values.String() != "map[a: b:2 c:3]" || !rec.Values.Has("a") {
		t.Errorf("unsorted: %v", rec.Values)
	}
	dup := append(append([]byte{}, head...), 3, 1, 'b', 1, '1', 1, 'a', 0, 1, 'b', 1, '2')
	if _, err := boltstore.DecodeRecord(dup); err == nil {
		t.Error("non-adjacent duplicate key accepted")
	}
	// Keys with NUL and non-UTF-8 bytes round-trip.
	odd := &store.Record{Version: 1, Values: store.ValuesOf(map[string][]byte{"\x00": {}, "\xff": []byte("x")})}
	back, err := boltstore.DecodeRecord(boltstore.EncodeRecord(odd))
	if err != nil || back.Values.String() != odd.Values.String() || !back.Values.Has("\x00") {
		t.Errorf("odd keys: %v %v", back, err)
	}
}
