package mongostore

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// TestFaultThroughMiddleware: the server goes down in the middle of a
// session's life (the embedded FerretDB stopped, its connections closed) and
// comes back on the same port and data directory. Through the session manager and
// the middleware: while it is down every request fails fast with a 5xx and
// no one is logged out; once it is back the same store serves the session
// again, and every write acknowledged before the outage is there.
func TestFaultThroughMiddleware(t *testing.T) {
	const storeTimeout = time.Second
	srv := startFerret(t)
	st := newStore(t, connect(t, srv.URI()))
	m, err := session.New(session.WithStore(st), session.WithStoreTimeout(storeTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	mux := http.NewServeMux()
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		k := r.FormValue("k")
		session.From(r.Context()).Set(k, "value of "+k)
		io.WriteString(w, "saved")
	})
	mux.HandleFunc("GET /read", func(w http.ResponseWriter, r *http.Request) {
		k := r.FormValue("k")
		v, ok := session.Get[string](session.From(r.Context()), k)
		if !ok {
			http.Error(w, "missing "+k, http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	})
	hs := httptest.NewServer(middleware.Sessions(m)(mux))
	defer hs.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()

	type response struct {
		status  int
		body    string
		took    time.Duration
		cookies []*http.Cookie
	}
	do := func(method, path, k string) response {
		t.Helper()
		req, err := http.NewRequest(method, hs.URL+path+"?k="+url.QueryEscape(k), nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{resp.StatusCode, strings.TrimSpace(string(b)), time.Since(start), resp.Cookies()}
	}

	var acked []string
	for i := range 5 {
		k := fmt.Sprintf("before-%d", i)
		if r := do("POST", "/write", k); r.status != http.StatusOK {
			t.Fatalf("write %s: %d %s", k, r.status, r.body)
		}
		acked = append(acked, k)
	}

	srv.Stop()
	for i := range 6 {
		method, path, k := "GET", "/read", "before-0"
		if i%2 == 1 {
			method, path, k = "POST", "/write", fmt.Sprintf("during-%d", i)
		}
		r := do(method, path, k)
		if r.status < 500 {
			t.Errorf("%s %s while the server is down: %d %q, want a 5xx", method, path, r.status, r.body)
		}
		if r.took > storeTimeout+500*time.Millisecond {
			t.Errorf("%s %s while the server is down took %v, want at most the store timeout (%v)", method, path, r.took, storeTimeout)
		}
		for _, c := range r.cookies {
			if c.MaxAge < 0 {
				t.Errorf("%s %s while the server is down cleared cookie %s: the outage logged the user out", method, path, c.Name)
			}
		}
	}
	srv.Restart(t)
	// The driver finds the server again by its monitor's next check (at
	// most a heartbeat away); the first request after that succeeds.
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		if st.Ping(t.Context()) == nil {
			break
		}
	}

	if r := do("GET", "/read", "before-0"); r.status != http.StatusOK {
		t.Fatalf("first read after the restart: %d %q", r.status, r.body)
	}
	if r := do("POST", "/write", "after"); r.status != http.StatusOK {
		t.Fatalf("write after recovery: %d %s", r.status, r.body)
	}
	acked = append(acked, "after")
	for _, k := range acked {
		if r := do("GET", "/read", k); r.status != http.StatusOK || r.body != "value of "+k {
			t.Errorf("acknowledged write %s after the outage: %d %q", k, r.status, r.body)
		}
	}
	for i := 1; i < 6; i += 2 {
		if r := do("GET", "/read", fmt.Sprintf("during-%d", i)); r.status != http.StatusNotFound {
			t.Errorf("write refused during the outage: now %d %q", r.status, r.body)
		}
	}
}
