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

// The sweep removes no record Load still serves, whatever year the clock
// reads: the entries' copy of the expiry was once clamped Unix nanoseconds,
// and past 2262 (or before 1678) the present and a live record's expiry
// both saturated, so the sweep took the record for expired.
func TestSweepAgreesWithLoad(t *testing.T) {
	for _, year := range []int{1600, 2026, 2300} {
		ctx := context.Background()
		now := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		s := New(WithClock(func() time.Time { return now }))
		defer s.Close()
		id := "0000000000000000000000000000000000000000000000000000000000000001"
		c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(24 * time.Hour), Set: map[string][]byte{"k": []byte("v")}}
		if _, err := s.Commit(ctx, id, c); err != nil {
			t.Fatal(err)
		}
		s.sweep()
		if rec, _ := s.Load(ctx, id); rec == nil {
			t.Errorf("in %d, the sweep removed a record that expires in a day", year)
		}
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
