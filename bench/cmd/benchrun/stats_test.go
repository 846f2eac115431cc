package main

import (
	"math"
	"testing"
	"time"

	"github.com/tether-go/tether/bench/loadgen"
)

// nearestRank is the p-quantile by the nearest-rank definition: the value
// of rank ceil(p*n), 1-based.
func nearestRank(sorted []float64, p float64) float64 {
	r := int(math.Ceil(p * float64(len(sorted))))
	return sorted[max(r, 1)-1]
}

// TestQuartilesNearestRank: the quartiles are of nearest rank (ceil(p*n),
// 1-based), and those of -x mirror those of x. (The first version took
// floor((n-1)p), one rank low for q3 at most n, and [min, min] at n = 2.)
func TestQuartilesNearestRank(t *testing.T) {
	for _, n := range []int{2, 6, 10, 150} {
		s := make(series, n)
		neg := make(series, n)
		for i := range s {
			s[i] = float64(i + 1)
			neg[i] = -float64(i + 1)
		}
		q1, q3 := s.quartiles()
		c := s.sorted()
		w1, w3 := nearestRank(c, 0.25), nearestRank(c, 0.75)
		if q1 != w1 || q3 != w3 {
			t.Errorf("n=%d: quartiles %v, %v; nearest rank %v, %v", n, q1, q3, w1, w3)
		}
		n1, n3 := neg.quartiles()
		if n1 != -q3 || n3 != -q1 {
			t.Errorf("n=%d: quartiles of x (%v, %v) and of -x (%v, %v) are not mirror images", n, q1, q3, n1, n3)
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
	if _, _, err := sliceRatios("none-slices", names, out, 100*time.Millisecond); err == nil {
		t.Errorf("rounds with a stalled baseline and a stalled floor: no error")
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
	}{{0.99, true, false}, {0.95, false, false}, {0.97, false, true}} {
		met, verdict := atLeast(rounds(c.center), 0.97)
		if met != c.met || (verdict != "") != c.undecided {
			t.Errorf("median %v against 0.97: met %v, verdict %q; want met %v, undecided %v", c.center, met, verdict, c.met, c.undecided)
		}
	}
}

// TestNearestRank: rank ceil(n·p), 1-based, at both ends — the median
// interval's 2.5 % bound of 2,000 resamples is rank 50, not 51.
func TestNearestRank(t *testing.T) {
	for _, c := range []struct {
		n, num, den, want int
	}{
		{1, 1, 40, 0}, {1, 39, 40, 0},
		{40, 1, 4, 9}, {40, 3, 4, 29}, {41, 1, 4, 10}, {41, 3, 4, 30},
		{2000, 1, 40, 49}, {2000, 39, 40, 1949},
		{150, 1, 40, 3}, {150, 39, 40, 146},
	} {
		s := make(series, c.n)
		for i := range s {
			s[i] = float64(i)
		}
		if got := s.nearestRank(c.num, c.den); int(got) != c.want {
			t.Errorf("n=%d, %d/%d: index %v, want %d", c.n, c.num, c.den, got, c.want)
		}
	}
}
