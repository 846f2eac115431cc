package middleware_test

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

type droppedObserver struct {
	mu      sync.Mutex
	reasons []string
}

func (o *droppedObserver) Event(_ context.Context, d session.EventData) {
	if d.Kind == session.EventDropped {
		o.mu.Lock()
		o.reasons = append(o.reasons, d.Reason)
		o.mu.Unlock()
	}
}

func (o *droppedObserver) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.reasons...)
}

// Session.End reports changes still pending when the request ends (see
// session/end.go). The flows a correct application uses must not raise that
// alarm, or operators learn to ignore it: login with Rotate and a flash,
// Rotate and RememberMe alone, a flash read and a CSRF token, a change after
// a Flush, after http.Error, after a Hijack, under http.TimeoutHandler, and
// a logout. From a review of that change.
func TestEndRaisesNoFalseAlarm(t *testing.T) {
	obs := &droppedObserver{}
	var logs bytes.Buffer
	var logMu sync.Mutex
	lw := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logs.Write(p) })
	st := memstore.New()
	defer st.Close()
	m, err := session.New(session.WithStore(st), session.WithObserver(obs),
		session.WithLogger(slog.New(slog.NewTextHandler(lw, nil))), session.WithCookie(session.Cookie{Name: "sid", Path: "/", HTTPOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID("alice")
		s.Rotate()
		s.AddFlash("hi")
	})
	mux.HandleFunc("/rotate", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		s.RememberMe(true)
	})
	mux.HandleFunc("/flash", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		_ = s.Flashes()
		_, _ = w.Write([]byte(s.CSRFToken()))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		s := session.From(r.Context())
		s.Set("late", 1)
		_ = s.Flashes()
	})
	mux.HandleFunc("/err", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("x", 1)
		http.Error(w, "no", http.StatusBadRequest)
		s.Set("y", 2)
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		session.From(r.Context()).Set("ws", 1)
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		bw.Flush()
		c.Close()
	})
	mux.Handle("/timeout", http.TimeoutHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("t", 1)
		w.Write([]byte("ok"))
	}), time.Second, "slow"))
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
	})
	srv := httptest.NewServer(middleware.Sessions(m)(mux))
	defer srv.Close()

	var cookie string
	do := func(path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		res.Body.Close()
		for _, c := range res.Cookies() {
			if c.Name == "sid" {
				if c.MaxAge < 0 {
					cookie = ""
				} else {
					cookie = "sid=" + c.Value
				}
			}
		}
		if r := obs.get(); len(r) > 0 {
			logMu.Lock()
			t.Errorf("%s: EventDropped %q; log:\n%s", path, r, logs.String())
			logMu.Unlock()
			obs.mu.Lock()
			obs.reasons = nil
			obs.mu.Unlock()
		}
	}
	for _, p := range []string{"/login", "/rotate", "/flash", "/stream", "/err", "/hijack", "/timeout", "/flash", "/logout"} {
		do(p)
	}
	_ = bufio.NewReader
	_ = strings.TrimSpace
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (o *droppedObserver) StoreStart(ctx context.Context, _ session.StoreStartData) context.Context {
	return ctx
}
func (o *droppedObserver) StoreEnd(context.Context, session.StoreEndData) {}
