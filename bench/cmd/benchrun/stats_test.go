package main

import (
	"testing"
	"time"

	"github.com/tether-go/tether/bench/loadgen"
)

// TestQuartilesMirror: the quartiles leave a quarter of the rounds (rounded
// down) out at each end, so those of -x mirror those of x at every n, a
// multiple of 4 (Slices' default 100 rounds, the resident run's 60) included.
// (The first version took floor((n-1)p), one rank low for q3, and [min, min]
// at n = 2; the second, nearest rank, did not mirror at n a multiple of 4.)
func TestQuartilesMirror(t *testing.T) {
	for _, c := range []struct{ n, q1, q3 int }{{1, 1, 1}, {2, 1, 2}, {4, 2, 3}, {6, 2, 5}, {10, 3, 8}, {60, 16, 45}, {100, 26, 75}, {150, 38, 113}} {
		s, neg := make(series, c.n), make(series, c.n)
		for i := range s {
			s[i], neg[i] = float64(i+1), -float64(i+1)
		}
		q1, q3 := s.quartiles()
		if q1 != float64(c.q1) || q3 != float64(c.q3) {
			t.Errorf("n=%d: quartiles %v, %v; want %d, %d", c.n, q1, q3, c.q1, c.q3)
		}
		if n1, n3 := neg.quartiles(); n1 != -q3 || n3 != -q1 {
			t.Errorf("n=%d: quartiles of x (%v, %v) and of -x (%v, %v) are not mirror images", c.n, q1, q3, n1, n3)
		}
	}
}

// TestStalledSliceFailsTheRun: a round in which the no-library app, or the
// floor, completed no request within its slice (a stall longer than the
// slice, which Slices reports as a count of 0) fails the run, instead of
// giving every app a ratio of 0 that round; a round without a stall gives
// each app its ratio and a raw line with the round's order.
func TestStalledSliceFailsTheRun(t *testing.T) {
	names := []string{"none", "tether-memory", "none-context"}
	out := loadgen.SlicesResult{
		Counts: [][]int64{{3600, 3500, 3550}, {0, 3500, 3550}, {3600, 3500, 0}},
		Order:  [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}},
	}
	for _, stalled := range []int{1, 2} { // the baseline's round, the floor's
		one := out
		one.Counts = [][]int64{out.Counts[0], out.Counts[stalled]}
		if _, _, err := sliceRatios("none-slices", names, one, 100*time.Millisecond); err == nil {
			t.Errorf("a round with a stall (%v): no error", out.Counts[stalled])
		}
	}
	out.Counts = out.Counts[:1]
	pairs, raw, err := sliceRatios("none-slices", names, out, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := pairs["tether-memory"]; len(got) != 1 || got[0] != 3500.0/3600 {
		t.Errorf("tether-memory: %v", got)
	}
	if want := "none-slices round=1 slice=100ms none=3600 tether-memory=3500 none-context=3550 order=none,tether-memory,none-context"; len(raw) != 1 || raw[0] != want {
		t.Errorf("raw %q, want %q", raw, want)
	}
}

// TestMedianInterval: the bootstrap interval of a median holds the median,
// is as wide as the binomial spread of its rank predicts (±1.96·√n/2 ranks:
// ±10 for n = 101), and is a point for a constant series.
func TestMedianInterval(t *testing.T) {
	s := make(series, 101)
	for i := range s {
		s[i] = float64((i * 37) % 101) // 0..100, shuffled
	}
	lo, hi := s.medianInterval()
	if !(lo >= 38 && lo <= 46 && hi >= 54 && hi <= 62) {
		t.Errorf("interval of the median of 0..100: %v–%v, want about 40–60", lo, hi)
	}
	if lo2, hi2 := s.medianInterval(); lo2 != lo || hi2 != hi {
		t.Errorf("two runs: %v–%v and %v–%v; want the same (fixed seed)", lo, hi, lo2, hi2)
	}
	c := series{0.97, 0.97, 0.97}
	if lo, hi := c.medianInterval(); lo != 0.97 || hi != 0.97 {
		t.Errorf("constant series: %v–%v", lo, hi)
	}
}

// TestAtLeast: a goal is met only when the whole interval of the median is
// at or above it, missed when all of it is below, and undecided otherwise.
func TestAtLeast(t *testing.T) {
	rounds := func(center float64) series {
		s := make(series, 150)
		for i := range s {
			s[i] = center + float64(i%15-7)*0.002 // ±1.4 %
		}
		return s
	}
	for _, c := range []struct {
		center    float64
		met       bool
		undecided bool
	}{{0.99, true, false}, {0.95, false, false}, {0.97, false, true}, {0.969, false, true}} {
		met, verdict := atLeast(rounds(c.center), 0.97)
		if met != c.met || (verdict != "") != c.undecided {
			t.Errorf("median %v against 0.97: met %v, verdict %q; want met %v, undecided %v", c.center, met, verdict, c.met, c.undecided)
		}
	}
}

// TestMiddle: the central 95 % of 2,000 bootstrap medians leaves 50 out at
// each end (medianInterval's bounds), and the middle never crosses itself.
func TestMiddle(t *testing.T) {
	for _, c := range []struct{ n, num, den, lo, hi int }{{2000, 1, 40, 50, 1949}, {150, 1, 40, 3, 146}, {3, 1, 2, 1, 1}, {1, 1, 40, 0, 0}} {
		s := make(series, c.n)
		for i := range s {
			s[i] = float64(i)
		}
		if lo, hi := s.middle(c.num, c.den); lo != float64(c.lo) || hi != float64(c.hi) {
			t.Errorf("n=%d, %d/%d: %v–%v, want %d–%d", c.n, c.num, c.den, lo, hi, c.lo, c.hi)
		}
	}
}
