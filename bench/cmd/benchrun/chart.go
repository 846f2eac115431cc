package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"

	"github.com/tether-go/tether/bench/apps"
)

// colors of the apps in the chart, Tether in blues, scs in oranges, gorilla
// in greens, the baseline grey.
var colors = map[string]string{
	"none":           "#9e9e9e",
	"tether-memory":  "#9ecae1",
	"tether-redis":   "#3182bd",
	"tether-hybrid":  "#08306b",
	"scs-memory":     "#fdae6b",
	"scs-redis":      "#e6550d",
	"gorilla-cookie": "#a1d99b",
	"gorilla-redis":  "#31a354",
}

const (
	chartW   = 980
	panelH   = 300
	marginL  = 70
	marginR  = 20
	legendH  = 50
	panelGap = 70
)

type bar struct {
	app           string
	med, lo, hi   float64
	route, detail string
}

// writeChart draws two panels: HTTP req/s per route (linear) and in-process
// ns/op per route (log scale), one bar per app with a min–max whisker.
func writeChart(path string, rep *report) error {
	var b bytes.Buffer
	h := legendH + 2*(panelH+panelGap) + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", chartW, h, chartW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	// Legend.
	x := float64(marginL)
	for _, in := range apps.All {
		fmt.Fprintf(&b, `<rect x="%.0f" y="14" width="12" height="12" fill="%s"/><text x="%.0f" y="24">%s</text>`+"\n", x, colors[in.Name], x+16, in.Name)
		x += 16 + float64(len(in.Name))*7 + 18
	}

	var httpGroups [][]bar
	var routes []string
	for _, rt := range httpRoutes {
		var g []bar
		for _, in := range apps.All {
			if st := rep.http.stats[key{rt.name, in.Name}]; st != nil {
				g = append(g, bar{app: in.Name, med: st.rps.median(), lo: st.rps.min(), hi: st.rps.max()})
			}
		}
		httpGroups = append(httpGroups, g)
		routes = append(routes, "/"+rt.name)
	}
	panel(&b, legendH+30, "HTTP req/s on loopback (higher is better; median of rounds, min–max whiskers)", routes, httpGroups, false)

	var inGroups [][]bar
	routes = nil
	for _, route := range inprocRoutes {
		var g []bar
		for _, in := range apps.All {
			if st := rep.inproc.stats[key{route, in.Name}]; st != nil {
				g = append(g, bar{app: in.Name, med: st.ns.median(), lo: st.ns.min(), hi: st.ns.max()})
			}
		}
		inGroups = append(inGroups, g)
		routes = append(routes, "/"+route)
	}
	panel(&b, legendH+30+panelH+panelGap, "In-process ns per request, httptest (lower is better; log scale; median, min–max whiskers)", routes, inGroups, true)
	b.WriteString("</svg>\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func panel(b *bytes.Buffer, top int, title string, labels []string, groups [][]bar, logScale bool) {
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", marginL, top-12, html.EscapeString(title))
	plotW := float64(chartW - marginL - marginR)
	bottom := float64(top + panelH - 30)
	height := float64(panelH - 40)

	maxV, minV := 0.0, math.Inf(1)
	for _, g := range groups {
		for _, br := range g {
			maxV = math.Max(maxV, br.hi)
			if br.lo > 0 {
				minV = math.Min(minV, br.lo)
			}
		}
	}
	if maxV == 0 {
		return
	}
	var y func(float64) float64
	var ticks []float64
	if logScale {
		lo := math.Pow(10, math.Floor(math.Log10(minV)))
		hi := math.Pow(10, math.Ceil(math.Log10(maxV)))
		y = func(v float64) float64 {
			v = math.Max(v, lo)
			return bottom - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*height
		}
		for t := lo; t <= hi*1.001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		step := niceStep(maxV / 5)
		top := math.Ceil(maxV*1.05/step) * step
		y = func(v float64) float64 { return bottom - v/top*height }
		for t := 0.0; t <= top*1.0001; t += step {
			ticks = append(ticks, t)
		}
	}
	for _, t := range ticks {
		ty := y(t)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e0e0e0"/>`+"\n", marginL, ty, chartW-marginR, ty)
		label := thousands(t)
		if logScale {
			label = logTick(t)
		}
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", marginL-6, ty+4, label)
	}
	groupW := plotW / float64(len(groups))
	for i, g := range groups {
		gx := float64(marginL) + float64(i)*groupW
		barW := (groupW - 30) / 8
		start := gx + (groupW-barW*float64(len(g)))/2
		for j, br := range g {
			bx := start + float64(j)*barW
			by := y(br.med)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				bx+1, by, barW-2, bottom-by, colors[br.app], br.app, labels[i], fmtVal(br.med, logScale))
			cx := bx + barW/2
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, y(br.lo), cx, y(br.hi))
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n",
				cx-3, y(br.lo), cx+3, y(br.lo), cx-3, y(br.hi), cx+3, y(br.hi))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="13">%s</text>`+"\n", gx+groupW/2, bottom+18, html.EscapeString(labels[i]))
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black"/>`+"\n", marginL, bottom, chartW-marginR, bottom)
}

func fmtVal(v float64, nsUnit bool) string {
	if nsUnit {
		return ns(v)
	}
	return thousands(v) + " req/s"
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

// logTick labels a power of ten of nanoseconds: 1 µs, 10 µs, 100 µs, 1 ms.
func logTick(v float64) string {
	switch {
	case v < 1e3:
		return fmt.Sprintf("%.0f ns", v)
	case v < 1e6:
		return fmt.Sprintf("%.0f µs", v/1e3)
	case v < 1e9:
		return fmt.Sprintf("%.0f ms", v/1e6)
	}
	return fmt.Sprintf("%.0f s", v/1e9)
}
