package redisstore_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
)

// Load hands out values that share memory with nothing else: not with the
// values of another load (bytesOf relies on go-redis reading every reply into
// memory of its own), nor with a neighbouring value (the capacity ends where
// the value does). So even a caller that breaks the contract and writes into
// a loaded value changes that one record only.
func TestLoadValuesAreTheirOwn(t *testing.T) {
	rdb := testserver.Redis(t)
	s := newStore(t, newClient(t, rdb.Addr()))
	ctx := t.Context()
	id := newID()
	now := time.Now()
	set := map[string][]byte{"a": []byte("first value"), "b": []byte("second value"), "empty": {}}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: set}); err != nil {
		t.Fatal(err)
	}
	one, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	two, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range one.Values.All() {
		if !bytes.Equal(v, set[k]) || v == nil {
			t.Errorf("value %q = %q, want %q", k, v, set[k])
		}
		if cap(v) != len(v) {
			t.Errorf("value %q has capacity %d past its length %d", k, cap(v), len(v))
		}
		if w := two.Values.Get(k); len(v) > 0 && &v[0] == &w[0] {
			t.Errorf("value %q of two loads shares memory", k)
		}
	}
	one.Values.Get("a")[0] = 'X'
	three, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(two.Values.Get("a")) != "first value" || string(three.Values.Get("a")) != "first value" {
		t.Errorf("a write into one load's value reached others: %q, %q", two.Values.Get("a"), three.Values.Get("a"))
	}
}
