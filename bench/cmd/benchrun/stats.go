package main

import (
	"slices"
)

// series is one measurement repeated over rounds.
type series []float64

func (s series) sorted() []float64 { c := slices.Clone(s); slices.Sort(c); return c }

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
