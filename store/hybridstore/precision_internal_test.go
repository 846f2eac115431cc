package hybridstore

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

func TestAlignment(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want time.Duration
	}{
		{time.Time{}, 0},
		{base, time.Millisecond},
		{base.Add(7 * time.Millisecond), time.Millisecond},
		{base.Add(7 * time.Microsecond), time.Microsecond},
		{base.Add(7*time.Millisecond + 3*time.Microsecond), time.Microsecond},
		{base.Add(1), time.Nanosecond},
		{base.Add(999_999_999), time.Nanosecond},
	} {
		if got := alignment(tc.t); got != tc.want {
			t.Errorf("alignment(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}

// The estimate only ever gets finer, and never from zero times.
func TestObserve(t *testing.T) {
	s := &Store{}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		rec  store.Record
		want time.Duration
	}{
		{store.Record{}, 0},
		{store.Record{Created: base, LastSeen: base.Add(time.Second)}, time.Millisecond},
		{store.Record{Created: base.Add(5 * time.Microsecond)}, time.Microsecond},
		{store.Record{Created: base}, time.Microsecond},
		{store.Record{Expires: base.Add(3)}, time.Nanosecond},
		{store.Record{Expires: base.Add(time.Millisecond)}, time.Nanosecond},
	}
	for i, st := range steps {
		s.observe(&st.rec)
		if got := time.Duration(s.precision.Load()); got != st.want {
			t.Errorf("after record %d: precision %v, want %v", i, got, st.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	in := time.Now() // with a monotonic reading
	got := truncate(in, time.Millisecond)
	if want := time.UnixMilli(in.UnixMilli()); !got.Equal(want) {
		t.Errorf("truncate to ms = %v, want %v", got, want)
	}
	if got != got.Round(0) {
		t.Error("truncate kept the monotonic clock reading")
	}
	if got := truncate(time.Time{}, time.Millisecond); !got.IsZero() {
		t.Errorf("truncate(zero) = %v", got)
	}
}
