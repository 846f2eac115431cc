package tetherprom_test

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// routes is a small application: set-only writes, reads, login (rotation
// plus user id), logout.
func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		v, _ := session.Get[string](session.From(r.Context()), r.FormValue("k"))
		io.WriteString(w, v)
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set(r.FormValue("k"), r.FormValue("v"))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID(r.FormValue("u"))
		s.Rotate()
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	})
	return mux
}

// app is routes under the middleware of m.
type app struct {
	t *testing.T
	h http.Handler
}

func newApp(t *testing.T, m *session.Manager) *app {
	return &app{t: t, h: middleware.Sessions(m)(routes())}
}

// do sends a request with the session cookie value cookie ("" for none) and
// returns the status and the session cookie set, if any.
func (a *app) do(target, cookie string) (int, *http.Cookie) {
	a.t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: cookie})
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == session.DefaultCookieName {
			return rec.Code, c
		}
	}
	return rec.Code, nil
}

// samples is a scrape: every sample's value by its name and labels, as in
// `tether_session_loads_total{result="hit",source="unknown"}`. Histograms
// contribute their _count and _sum.
type samples map[string]float64

// scrape gets reg's exposition over HTTP from promhttp, in the text format,
// and parses it: what a Prometheus server would read.
func scrape(t *testing.T, reg *prometheus.Registry) samples {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("scrape: %s: %s", res.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	out := samples{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			l := labelString(m.GetLabel())
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[name+l] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[name+l] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[name+"_count"+l] = float64(m.GetHistogram().GetSampleCount())
				out[name+"_sum"+l] = m.GetHistogram().GetSampleSum()
			default:
				out[name+l] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}

func labelString(ls []*dto.LabelPair) string {
	if len(ls) == 0 {
		return ""
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// delta returns what changed from s to later among the samples whose names
// begin with one of prefixes.
func (s samples) delta(later samples, prefixes ...string) map[string]float64 {
	d := map[string]float64{}
	for k, v := range later {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		if v != s[k] {
			d[k] = v - s[k]
		}
	}
	return d
}

func formatDelta(d map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d)) {
		fmt.Fprintf(&b, "\n\t%s %+g", k, d[k])
	}
	if b.Len() == 0 {
		return " (nothing)"
	}
	return b.String()
}
