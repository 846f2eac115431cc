package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// thousands formats v rounded, with thin separators: 38,697.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Round(v))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ns formats nanoseconds: 842 ns, 5.26 µs, 131 µs, 1.2 ms.
func ns(v float64) string {
	switch a := math.Abs(v); {
	case a < 1000:
		return fmt.Sprintf("%.0f ns", v)
	case a < 10_000:
		return fmt.Sprintf("%.2f µs", v/1e3)
	case a < 1_000_000:
		return fmt.Sprintf("%.0f µs", v/1e3)
	default:
		return fmt.Sprintf("%.1f ms", v/1e6)
	}
}

func dur(v float64) string { return ns(float64(time.Duration(v))) }

// rangeOf formats a series as "median (min–max)" with f.
func rangeOf(s series, f func(float64) string) string {
	if len(s) == 0 {
		return "–"
	}
	if len(s) == 1 {
		return f(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.median()), f(s.min()), f(s.max()))
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(v float64) string { return fmt.Sprintf("%.2f×", v) }

func pct(v float64) string { return fmt.Sprintf("%.0f %%", v*100) }
