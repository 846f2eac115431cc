package redisstore_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/internal/apptest"
	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/storetest"
)

// The cost of requests in Redis commands, counted by the server: nothing for
// a request that ignores its session, one HGETALL for a read and no write for
// a request that changes nothing, one touch in 50 reads over 200 seconds with
// a 30-minute idle timeout, and no read for a request that only sets.
func TestRequestCosts(t *testing.T) {
	rdb := testserver.Redis(t)
	client := newClient(t, rdb.Addr())
	clk := storetest.NewClock(time.Now())
	st := newStore(t, client)
	a := apptest.New(t, st, session.WithClock(clk.Now), session.WithIdleTimeout(30*time.Minute))
	// Scripts are loaded into a server by their first use (EVALSHA fails with
	// NOSCRIPT, EVAL follows): use each once, so that counts are steady.
	warm := newID()
	create(t, st, warm, "")
	if err := st.Touch(t.Context(), warm, time.Now(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	if rec := a.Do("/set?n=5"); rec.Code != http.StatusOK || a.Cookie == nil {
		t.Fatalf("first request: %d, cookie %v", rec.Code, a.Cookie)
	}

	rdb.ResetStats(t)
	a.Do("/nothing")
	if s := rdb.CommandStats(t); len(s) != 0 {
		t.Errorf("a request that ignores its session sent %v, want nothing", s)
	}

	rdb.ResetStats(t)
	if rec := a.Do("/read"); rec.Body.String() != "5" {
		t.Fatalf("read %q, want 5", rec.Body.String())
	}
	if s := rdb.CommandStats(t); len(s) != 1 || s["get"] != 1 {
		t.Errorf("a read sent %v, want one GET and nothing else", s)
	}

	rdb.ResetStats(t)
	for range 50 {
		clk.Advance(4 * time.Second)
		if rec := a.Do("/read"); rec.Code != http.StatusOK || rec.Body.String() != "5" {
			t.Fatalf("read: %d %q", rec.Code, rec.Body.String())
		}
	}
	s := rdb.CommandStats(t)
	if s["get"] != 50 || s["evalsha"] != 1 {
		t.Errorf("50 reads over 200 s sent %d GET and %d EVALSHA (touch), want 50 and 1; all: %v", s["get"], s["evalsha"], s)
	}
	// The touch script's own commands aside (TIME: its deadline check),
	// nothing else.
	for cmd := range s {
		switch cmd {
		case "get", "evalsha", "getrange", "setrange", "pexpireat", "publish", "time":
		default:
			t.Errorf("50 reads sent %s", cmd)
		}
	}

	rdb.ResetStats(t)
	a.Do("/set?n=6")
	if s := rdb.CommandStats(t); s["get"] != 1 || s["evalsha"] != 1 || s["hgetall"] != 0 {
		t.Errorf("a request that only sets sent %v, want one EVALSHA (and its GET), no other read", s)
	}
}

const storeTimeout = 500 * time.Millisecond

// faultClient is a client tuned for fast failure: short dial and I/O
// timeouts, and the caller's deadline honoured.
func faultClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true,
		DialTimeout:           100 * time.Millisecond,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// wantUnavailable checks that a request fails with 503 within the store
// timeout (plus slack for a loaded machine), without clearing the cookie.
func wantUnavailable(t *testing.T, a *apptest.App, path string) {
	t.Helper()
	cookie := a.Cookie
	start := time.Now()
	rec := a.Do(path)
	took := time.Since(start)
	t.Logf("%s during the outage: %d in %v", path, rec.Code, took)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("%s during the outage: %d, want 503", path, rec.Code)
	}
	if took > storeTimeout+300*time.Millisecond {
		t.Errorf("%s during the outage took %v, want at most the store timeout %v", path, took, storeTimeout)
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Errorf("%s during the outage set cookies %v: an outage must not log anyone out", path, rec.Result().Cookies())
	}
	a.Cookie = cookie
}

// A stopped server: requests fail fast with 503 and keep their cookie; once
// the server is back (with its data, from its append-only file), the same
// cookie finds the same session, without restarting the application.
func TestOutage(t *testing.T) {
	rdb := testserver.Redis(t, testserver.WithRedisArgs("--appendonly", "yes", "--appendfsync", "always"))
	client := faultClient(t, rdb.Addr())
	a := apptest.New(t, newStore(t, client), session.WithStoreTimeout(storeTimeout))
	a.Do("/set?n=7")
	cookie := a.Cookie

	rdb.Stop()
	for _, path := range []string{"/read", "/set?n=8", "/read"} {
		wantUnavailable(t, a, path)
	}
	if rec := a.Do("/nothing"); rec.Code != http.StatusOK {
		t.Errorf("a request that ignores its session during the outage: %d, want 200", rec.Code)
	}

	rdb.Start()
	if rec := a.Do("/read"); rec.Code != http.StatusOK || rec.Body.String() != "7" {
		t.Errorf("read after the restart: %d %q, want 200 7", rec.Code, rec.Body.String())
	}
	if a.Cookie.Value != cookie.Value {
		t.Error("the session cookie changed across the outage")
	}
	if rec := a.Do("/set?n=9"); rec.Code != http.StatusOK {
		t.Errorf("write after the restart: %d", rec.Code)
	}
	if rec := a.Do("/read"); rec.Body.String() != "9" {
		t.Errorf("read after a write after the restart: %q, want 9", rec.Body.String())
	}
}

// A server that stops answering without closing connections (frozen, or
// behind a partition): requests fail with 503 at the store timeout, not at
// go-redis' read timeout; when it answers again, service resumes.
func TestHungServer(t *testing.T) {
	rdb := testserver.Redis(t)
	p := testserver.NewProxy(t, rdb.Addr())
	client := faultClient(t, p.Addr())
	a := apptest.New(t, newStore(t, client), session.WithStoreTimeout(storeTimeout))
	a.Do("/set?n=3")

	p.Freeze()
	wantUnavailable(t, a, "/read")
	wantUnavailable(t, a, "/set?n=4")
	p.Thaw()
	if rec := a.Do("/read"); rec.Code != http.StatusOK {
		t.Fatalf("read after the server answers again: %d", rec.Code)
	}
	// The write answered 503 was held by the frozen link and reaches Redis
	// after its deadline: it must not apply (issue 12.7).
	eventually(t, "the held write delivered", func() bool { return p.Held() == 0 })
	if rec := a.Do("/read"); rec.Body.String() != "3" {
		t.Errorf("read after the hang: %q, want 3: the write answered 503 applied after the thaw", rec.Body.String())
	}
}
