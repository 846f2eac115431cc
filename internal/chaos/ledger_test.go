package chaos

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memstore"
)

// The ledger must catch each kind of violation: these mutants of the app
// break one promise each, and the clean app breaks none.

// newMemApp is the app on a fresh memory store.
func newMemApp(t *testing.T) http.Handler {
	m, err := session.New(session.WithStore(memstore.New()),
		session.WithCookie(session.Cookie{Name: CookieName, Path: "/", HTTPOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return NewApp("mem", m)
}

// runAgainst puts the users on h for d and returns what the ledger saw.
func runAgainst(t *testing.T, h http.Handler, d time.Duration, prepare func(*Ledger)) Counts {
	srv := httptest.NewServer(h)
	defer srv.Close()
	ledger := &Ledger{StaleBound: DefaultStaleBound}
	if prepare != nil {
		prepare(ledger)
	}
	load := StartLoad(srv.URL, LoadConfig{Users: 6, Think: time.Millisecond, Keys: 3}, ledger, 1)
	// At least d, and enough requests for every kind of step, however slow
	// the machine.
	start := time.Now()
	for time.Since(start) < d || ledger.Counts().Requests < 500 && time.Since(start) < 20*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	load.Stop()
	load.Verify()
	c := ledger.Counts()
	t.Logf("%+v %v", c, ledger.Details())
	return c
}

func TestLedgerClean(t *testing.T) {
	t.Parallel()
	c := runAgainst(t, newMemApp(t), time.Second, nil)
	if c.WrongReads+c.Silent+c.LostWrites+c.LostExcused+c.SessionsLost+c.Errors > 0 || c.AckedWrites == 0 {
		t.Fatalf("the clean app: %+v", c)
	}
}

// wipe swaps in an empty store after a while: every session is gone.
func TestLedgerCatchesSilentLogouts(t *testing.T) {
	t.Parallel()
	var cur atomic.Pointer[http.Handler]
	first := newMemApp(t)
	cur.Store(&first)
	time.AfterFunc(500*time.Millisecond, func() { fresh := newMemApp(t); cur.Store(&fresh) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*cur.Load()).ServeHTTP(w, r) })
	if c := runAgainst(t, h, time.Second, nil); c.Silent == 0 {
		t.Fatalf("a wiped store went unnoticed: %+v", c)
	}
	// The same wipe, declared as a crash of a store that keeps nothing, is
	// a loss the store did not promise to avoid.
	cur.Store(&first)
	var ledger *Ledger
	time.AfterFunc(500*time.Millisecond, func() { fresh := newMemApp(t); cur.Store(&fresh); ledger.Crash(time.Now()) })
	c := runAgainst(t, h, time.Second, func(l *Ledger) { l.LossWindow = Forever; ledger = l })
	if c.Silent != 0 || c.SessionsLost == 0 {
		t.Fatalf("a declared crash: %+v", c)
	}
}

// rewrite changes the reply of some requests.
func rewrite(h http.Handler, path string, f func(*Reply)) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path || n.Add(1)%5 != 0 {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var reply Reply
		_ = json.Unmarshal(rec.Body.Bytes(), &reply)
		f(&reply)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_ = json.NewEncoder(w).Encode(reply)
	})
}

func TestLedgerCatchesWrongReads(t *testing.T) {
	t.Parallel()
	other := rewrite(newMemApp(t), "/get", func(r *Reply) {
		if r.User != "" {
			r.User = "intruder"
		}
	})
	if c := runAgainst(t, other, time.Second, nil); c.WrongReads == 0 {
		t.Fatalf("another user's session went unnoticed: %+v", c)
	}
	foreign := rewrite(newMemApp(t), "/get", func(r *Reply) {
		if r.Found {
			r.Value = "u999-1"
		}
	})
	if c := runAgainst(t, foreign, time.Second, nil); c.WrongReads == 0 {
		t.Fatalf("another user's value went unnoticed: %+v", c)
	}
}

// dropWrites acknowledges some writes without making them.
func TestLedgerCatchesLostWrites(t *testing.T) {
	t.Parallel()
	app := newMemApp(t)
	var mu sync.Mutex
	n := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		drop := r.URL.Path == "/set" && n%4 == 0
		mu.Unlock()
		if !drop {
			app.ServeHTTP(w, r)
			return
		}
		// Answer as the app would, from the session's user, without the write.
		rec := httptest.NewRecorder()
		probe := r.Clone(r.Context())
		probe.URL.Path, probe.Method, probe.Body = "/get", http.MethodGet, http.NoBody
		app.ServeHTTP(rec, probe)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(bytes.TrimSpace([]byte(strings.Replace(rec.Body.String(), `"found":true,`, "", 1))))
	})
	if c := runAgainst(t, h, time.Second, nil); c.LostWrites == 0 {
		t.Fatalf("writes acknowledged and not made went unnoticed: %+v", c)
	}
}

// A logout that does not end the session: replays of the token find it.
func TestLedgerCatchesLogoutsThatDidNotTake(t *testing.T) {
	t.Parallel()
	app := newMemApp(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/logout" {
			app.ServeHTTP(w, r)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Path: "/", MaxAge: -1})
		_ = json.NewEncoder(w).Encode(Reply{Node: "mem"})
	})
	c := runAgainst(t, h, time.Second, func(l *Ledger) { l.StaleBound = 0 })
	if c.WrongReads == 0 {
		t.Fatalf("sessions served after their logout went unnoticed: %+v", c)
	}
}
