package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

// A read-only streaming handler (SSE, a long download) whose session needed
// no touch when its headers went out, but does by the time it returns: the
// middleware's CommitLate extends the idle deadline, or the session would
// expire an idle timeout after the touch before the stream began, although
// the user was active throughout (a shortcut that skipped late commits after
// one that saved nothing did that; review).
func TestStreamingReadIsTouchedAtTheEnd(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	mem := memstore.New()
	defer mem.Close()
	m, err := session.New(session.WithStore(mem), session.WithClock(clock),
		session.WithIdleTimeout(30*time.Minute), session.WithTouchInterval(3*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := middleware.Sessions(m)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		switch r.URL.Path {
		case "/login":
			s.Set("u", "alice")
		case "/stream":
			session.Get[string](s, "u")
			w.(http.Flusher).Flush()  // headers out: the early commit
			advance(20 * time.Minute) // the stream runs
		case "/info":
			info, _ := s.Info()
			io.WriteString(w, info.Expires.Format(time.RFC3339))
			return
		}
		io.WriteString(w, "ok")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	ck := rec.Result().Cookies()[0]
	advance(time.Minute)
	r := httptest.NewRequest("GET", "/stream", nil)
	r.AddCookie(ck)
	h.ServeHTTP(httptest.NewRecorder(), r)

	advance(15 * time.Minute) // 36m after the login, 15m after the stream ended
	r = httptest.NewRequest("GET", "/info", nil)
	r.AddCookie(ck)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Body.Len() == 0 || rec.Body.String() == "0001-01-01T00:00:00Z" {
		t.Fatalf("session expired 15m after a 20m stream ended (idle timeout 30m); expires was %q", rec.Body.String())
	}
}
