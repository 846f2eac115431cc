package memcachestore

import (
	"math"
	"testing"
	"time"
)

func TestExptime(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) // a whole second
	u := base.Unix()
	for _, tc := range []struct {
		name string
		t    time.Time
		want int64
	}{
		{"whole second: not rounded, padded", base, u + expiryPad},
		{"1ns past: rounded up", base.Add(time.Nanosecond), u + 1 + expiryPad},
		{"0.2s past: rounded up", base.Add(200 * time.Millisecond), u + 1 + expiryPad},
		{"0.999999999s past: rounded up", base.Add(time.Second - time.Nanosecond), u + 1 + expiryPad},
		{"1.2s ahead", base.Add(1200 * time.Millisecond), u + 2 + expiryPad},
		// Past 30 days memcached must get an absolute time, never
		// the relative seconds a naive conversion would send.
		{"31 days ahead: absolute", base.Add(31 * 24 * time.Hour), u + 31*24*3600 + expiryPad},
		{"one year ahead: absolute", base.AddDate(1, 0, 0), base.AddDate(1, 0, 0).Unix() + expiryPad},
		{"other time zone, same instant", base.In(time.FixedZone("X", 5*3600)).Add(time.Millisecond), u + 1 + expiryPad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exptime(tc.t)
			if int64(got) != tc.want {
				t.Errorf("exptime(%v) = %d, want %d", tc.t, got, tc.want)
			}
			if int64(got) <= maxRelative {
				t.Errorf("exptime(%v) = %d would be read as relative", tc.t, got)
			}
			// Never early: memcached's clock may run up to a second
			// ahead of ours, so the item must outlive t by that much.
			if d := time.Unix(int64(got), 0).Sub(tc.t); d < time.Second {
				t.Errorf("exptime(%v) = %d leaves %v, want at least 1s of margin", tc.t, got, d)
			}
		})
	}
	if got := exptime(time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MaxInt32 {
		t.Errorf("exptime(2040) = %d, want clamped to %d", got, math.MaxInt32)
	}
	for _, past := range []time.Time{time.Unix(0, 0), time.Unix(1000, 0), time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got := exptime(past); got != expired {
			t.Errorf("exptime(%v) = %d, want %d (expired), not a relative time", past, got, expired)
		}
	}
}

func TestExpSeconds(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(100, 0), 100},
		{time.Unix(100, 1), 101},
		{time.Unix(-1, 0), -1},
		{time.Unix(-2, 500), -1}, // -1.9999995 s rounds up to -1
	} {
		if got := expSeconds(tc.t); got != tc.want {
			t.Errorf("expSeconds(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}
