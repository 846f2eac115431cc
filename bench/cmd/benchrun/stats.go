package main

import (
	"math/rand/v2"
	"slices"
)

// series is one measurement repeated over rounds.
type series []float64

func (s series) sorted() series { c := slices.Clone(s); slices.Sort(c); return c }

// median is the middle value (the mean of the two middle ones for an even
// count); NaN-free: 0 for an empty series.
func (s series) median() float64 {
	c := s.sorted()
	switch n := len(c); {
	case n == 0:
		return 0
	case n%2 == 1:
		return c[n/2]
	default:
		return (c[n/2-1] + c[n/2]) / 2
	}
}

func (s series) min() float64 {
	if len(s) == 0 {
		return 0
	}
	return slices.Min(s)
}

func (s series) max() float64 {
	if len(s) == 0 {
		return 0
	}
	return slices.Max(s)
}

// spread is (max-min)/median, the noise of a series.
func (s series) spread() float64 {
	m := s.median()
	if m == 0 {
		return 0
	}
	return (s.max() - s.min()) / m
}

// paired combines a and b round by round: index i of every series is round
// i, and within a round the libraries ran next to each other, so a ratio of
// one round's values cancels most of a shared machine's slow drift.
func paired(a, b series, f func(x, y float64) float64) series {
	n := min(len(a), len(b))
	out := make(series, 0, n)
	for i := range n {
		out = append(out, f(a[i], b[i]))
	}
	return out
}

func div(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x / y
}

func sub(x, y float64) float64 { return x - y }

// quartiles bound the middle half of a series: the values with a quarter of
// the series (rounded down) below and above them, so that those of -x are
// the mirror image of those of x.
func (s series) quartiles() (q1, q3 float64) {
	c := s.sorted()
	if len(c) == 0 {
		return 0, 0
	}
	return c.middle(1, 4)
}

// middle bounds the central part of a sorted, non-empty series that leaves
// out the same number of values, floor(n·num/den), at each end: the middle
// half for 1/4, the central 95 % for 1/40. It is what quartiles and
// medianInterval share.
func (c series) middle(num, den int) (lo, hi float64) {
	k := min(num*len(c)/den, (len(c)-1)/2)
	return c[k], c[len(c)-1-k]
}

// medianInterval is a 95 % bootstrap interval of s's median: the 2.5th and
// 97.5th percentiles of the medians of 2,000 resamples of s (with
// replacement, from a fixed seed, so a report can be regenerated). It is
// how far the median could be from the one a rerun gives, where quartiles
// say how far one round is.
func (s series) medianInterval() (lo, hi float64) {
	if len(s) == 0 {
		return 0, 0
	}
	const resamples = 2000
	rng := rand.New(rand.NewPCG(0x5e55, uint64(len(s))))
	meds := make(series, resamples)
	re := make(series, len(s))
	for i := range meds {
		for j := range re {
			re[j] = s[rng.IntN(len(s))]
		}
		meds[i] = re.median()
	}
	return meds.sorted().middle(1, 40)
}
