package memstore

import (
	"context"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// expiryKey rounds up: an entry's expiry is never before its record's.
func TestExpiryKeyRoundsUp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(0, 1), 1},
		{time.Unix(0, 1000), 1},
		{time.Unix(0, 1001), 2},
		{time.Unix(-1, 999_999_999), 0},
		{time.Unix(-1, 999_999_000), -1},
	} {
		if got := expiryKey(tc.t); got != tc.want {
			t.Errorf("expiryKey(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

func TestJanitorAgreesWithLoadPast2262(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	defer s.Close()
	id := "0000000000000000000000000000000000000000000000000000000000000001"
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(24 * time.Hour), Set: map[string][]byte{"k": []byte("v")}}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	if rec, _ := s.Load(ctx, id); rec == nil {
		t.Fatal("not live before the sweep")
	}
	s.sweep()
	if rec, _ := s.Load(ctx, id); rec == nil {
		t.Error("a record live by Load (expires in a day) was removed by the janitor: unixNano clamps both now and its expiry to MaxInt64")
	}
}

// Same disagreement before 1678 (negative clamp), and eviction ranks the
// live record as expired.
func TestJanitorAgreesWithLoadBefore1678(t *testing.T) {
	ctx := context.Background()
	now := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	defer s.Close()
	id := "0000000000000000000000000000000000000000000000000000000000000002"
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(24 * time.Hour)}
	c.Set = map[string][]byte{"k": []byte("v")}
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	s.sweep()
	if rec, _ := s.Load(ctx, id); rec == nil {
		t.Error("a live record was removed by the janitor under a clock before 1678")
	}
}

// Eviction order by expiry with distinct, in-range expiries: soonest first.
func TestEvictionOrderByExpiry(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }), WithMaxEntries(3))
	defer s.Close()
	ids := []string{"a", "b", "c", "d"}
	exp := []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour, 4 * time.Hour}
	for i, id := range ids {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(exp[i]), Set: map[string][]byte{"k": {}}}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	if rec, _ := s.Load(ctx, "b"); rec != nil {
		t.Error("b (soonest expiry) not evicted")
	}
	for _, id := range []string{"a", "c", "d"} {
		if rec, _ := s.Load(ctx, id); rec == nil {
			t.Errorf("%s evicted", id)
		}
	}
	// Far-future expiries (clamped) do not break the heap: the in-range one
	// goes first.
	s2 := New(WithClock(func() time.Time { return now }), WithMaxEntries(2))
	defer s2.Close()
	for i, e := range []time.Time{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), now.Add(time.Hour), time.Date(5000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: e, Set: map[string][]byte{"k": {}}}
		if _, err := s2.Commit(ctx, ids[i], c); err != nil {
			t.Fatal(err)
		}
	}
	if rec, _ := s2.Load(ctx, "b"); rec != nil {
		t.Error("b (in-range expiry) not evicted before the clamped ones")
	}
}
