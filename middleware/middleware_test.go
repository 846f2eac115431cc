package middleware_test

import (
	"context"
	"fmt"
	"github.com/tether-go/tether/store"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	r := c.do("POST", "/set?k=name&v=ada")
	if r.cookie == nil || r.cookie.Value == "" {
		t.Fatalf("no session cookie on the first write: %v", r.header)
	}
	ck := r.cookie
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Errorf("cookie attributes = %+v, want HttpOnly Secure SameSite=Lax Path=/", ck)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store on a response that sets the cookie", got)
	}
	if got := r.header.Get("Vary"); got != "Cookie" {
		t.Errorf("Vary = %q, want Cookie", got)
	}
	if got := c.get("/get?k=name"); got != "ada" {
		t.Fatalf("read back %q, want ada", got)
	}
	if got := c.get("/keys"); got != "name" {
		t.Errorf("keys = %q, want name (reserved keys hidden)", got)
	}
}

func TestUntouchedRequestCostsNothing(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.reset()

	for _, cookie := range []string{"", c.cookie} {
		r := e.do("GET", "/none", cookie)
		if r.cookie != nil {
			t.Errorf("cookie %q: untouched request set a cookie: %v", cookie, r.cookie)
		}
		if r.header.Get("Vary") != "" || r.header.Get("Cache-Control") != "" {
			t.Errorf("untouched request got session headers: %v", r.header)
		}
	}
	if n := e.store.n(""); n != 0 {
		t.Errorf("untouched requests made %d store calls, want 0", n)
	}
}

func TestReadCostsOneLoadAndNoWrite(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.reset()
	for range 50 {
		e.clock.Advance(time.Second)
		if got := c.get("/get?k=a"); got != "1" {
			t.Fatalf("read %q", got)
		}
	}
	if n := e.store.n("load"); n != 50 {
		t.Errorf("50 reads made %d loads, want 50", n)
	}
	if n := e.store.n("commit"); n != 0 {
		t.Errorf("50 reads made %d commits, want 0", n)
	}
	if n := e.store.n("touch"); n != 0 {
		t.Errorf("50 reads over 50s made %d touches, want 0 (touch interval is 3m)", n)
	}
}

func TestSetOnlyRequestDoesNotLoad(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.reset()
	c.do("POST", "/set?k=b&v=2")
	if n := e.store.n("load"); n != 0 {
		t.Errorf("a set-only request loaded the session %d times", n)
	}
	if n := e.store.n("commit"); n != 1 {
		t.Errorf("a set-only request made %d commits, want 1", n)
	}
	if got := c.get("/keys"); got != "a,b" {
		t.Errorf("keys = %q, want a,b", got)
	}
}

func TestTouchAtMostOncePerInterval(t *testing.T) {
	e := newEnv(t, session.WithIdleTimeout(30*time.Minute), session.WithTouchInterval(5*time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.reset()
	for range 20 { // 20 minutes of reads, one a minute
		e.clock.Advance(time.Minute)
		c.get("/get?k=a")
	}
	if n := e.store.n("touch"); n != 4 {
		t.Errorf("20 minutes of reads made %d touches, want 4 (every 5m)", n)
	}
	if n := e.store.n("commit"); n != 0 {
		t.Errorf("touch made %d full commits, want expiry-only touches", n)
	}
}

func TestConcurrentWritesToDistinctKeysAllKept(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=seed&v=0")
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := e.do("POST", fmt.Sprintf("/set?k=k%03d&v=%d", i, i), c.cookie)
			if r.code != http.StatusOK {
				t.Errorf("write %d: status %d", i, r.code)
			}
		})
	}
	wg.Wait()
	keys := strings.Split(c.get("/keys"), ",")
	if len(keys) != n+1 {
		t.Fatalf("%d keys after %d concurrent writes (+seed), want %d: lost %d", len(keys), n, n+1, n+1-len(keys))
	}
	for i := range n {
		if got := c.get(fmt.Sprintf("/get?k=k%03d", i)); got != fmt.Sprint(i) {
			t.Errorf("k%03d = %q", i, got)
		}
	}
}

func TestIdleExpiry(t *testing.T) {
	e := newEnv(t, session.WithIdleTimeout(10*time.Minute), session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	// Activity keeps it alive past the idle timeout...
	for range 5 {
		e.clock.Advance(4 * time.Minute)
		if got := c.get("/get?k=a"); got != "1" {
			t.Fatalf("active session lost its value: %q", got)
		}
	}
	// ...inactivity ends it.
	e.clock.Advance(10*time.Minute + time.Second)
	r := c.do("GET", "/get?k=a")
	if r.body != "-" {
		t.Fatalf("idle session still readable: %q", r.body)
	}
	if r.cookie == nil || r.cookie.MaxAge >= 0 {
		t.Errorf("dead session's cookie not cleared: %v", r.cookie)
	}
}

func TestAbsoluteExpiry(t *testing.T) {
	e := newEnv(t, session.WithIdleTimeout(time.Hour), session.WithLifetime(2*time.Hour), session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	for range 7 { // active every 15 minutes for 1h45
		e.clock.Advance(15 * time.Minute)
		c.get("/get?k=a")
		c.get("/rotate") // rotation must not extend the lifetime either
	}
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("session ended early: %q", got)
	}
	e.clock.Advance(15*time.Minute + time.Second) // 2h00m01s after creation
	if got := c.get("/get?k=a"); got != "-" {
		t.Fatalf("session outlived its lifetime: %q", got)
	}
}

func TestUserIndex(t *testing.T) {
	e := newEnv(t)
	laptop, phone, other := &client{e: e}, &client{e: e}, &client{e: e}
	laptop.get("/login?u=alice")
	phone.get("/login?u=alice")
	other.get("/login?u=bob")
	laptop.do("POST", "/set?k=a&v=1")

	infos, err := e.m.UserSessions(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("alice has %d sessions, want 2: %+v", len(infos), infos)
	}
	n, err := e.m.DestroyUser(t.Context(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("DestroyUser = %d, %v; want 2", n, err)
	}
	if got := laptop.get("/get?k=a"); got != "-" {
		t.Errorf("laptop still logged in after DestroyUser: %q", got)
	}
	if infos, _ := e.m.UserSessions(t.Context(), "bob"); len(infos) != 1 {
		t.Errorf("bob's session affected: %+v", infos)
	}
}

func TestFlashes(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.get("/flash/add?m=saved")
	e.clock.Advance(time.Millisecond) // flashes are ordered by the time they were added
	c.get("/flash/add?m=twice")
	if got := c.get("/flash"); got != "saved|twice" {
		t.Fatalf("flashes = %q, want saved|twice", got)
	}
	if got := c.get("/flash"); got != "" {
		t.Fatalf("flashes shown twice: %q", got)
	}
	if got := c.get("/keys"); got != "" {
		t.Errorf("flashes visible as keys: %q", got)
	}
}

func TestCommitFailureIs503(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.failOn("commit")
	r := e.do("POST", "/set?k=a&v=2", c.cookie)
	if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("failed commit: status %d Retry-After %q, want 503 with Retry-After", r.code, r.header.Get("Retry-After"))
	}
	if strings.Contains(r.body, "ok") {
		t.Errorf("handler's body leaked into the error response: %q", r.body)
	}
	e.store.fail.Store(nil)
	if got := c.get("/get?k=a"); got != "1" {
		t.Errorf("value after failed commit = %q, want the old 1", got)
	}
}

func TestLoadFailureIs503NotLogout(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.store.reset()
	e.store.failOn("load")
	r := e.do("GET", "/get?k=a", c.cookie)
	if r.code != http.StatusServiceUnavailable {
		t.Fatalf("load failure: status %d, want 503", r.code)
	}
	if r.cookie != nil {
		t.Errorf("load failure touched the cookie (a logout): %v", r.cookie)
	}
	if n := e.store.n("commit") + e.store.n("delete") + e.store.n("touch"); n != 0 {
		t.Errorf("%d writes made from data that failed to load: %v", n, e.store.calls)
	}
	e.store.fail.Store(nil)
	if got := c.get("/get?k=a"); got != "1" {
		t.Errorf("after the outage: %q, want 1", got)
	}
}

func TestFailedTouchDoesNotFailTheRead(t *testing.T) {
	e := newEnv(t, session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	e.clock.Advance(2 * time.Minute)
	e.store.failOn("touch")
	r := e.do("GET", "/get?k=a", c.cookie)
	if r.code != http.StatusOK || r.body != "1" {
		t.Fatalf("read with a failing touch: %d %q, want 200 1", r.code, r.body)
	}
	if e.store.n("touch") != 1 {
		t.Fatalf("touch calls %d, want 1", e.store.n("touch"))
	}
	if !strings.Contains(e.logs.String(), "store call failed") {
		t.Error("failed touch not logged")
	}
}

// lateIndexed simulates a session that rotates while DestroyUser runs: after
// the first DeleteUser pass it indexes a new record under the same user, as a
// rotation that read the index before the pass would.
type lateIndexed struct {
	*counting
	once sync.Once
	now  func() time.Time
}

func (l *lateIndexed) DeleteUser(ctx context.Context, userID string) (int, error) {
	n, err := l.counting.Store.DeleteUser(ctx, userID)
	l.once.Do(func() {
		now := l.now()
		l.counting.Store.Commit(ctx, strings.Repeat("e", 64), store.Change{
			Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
			SetUserID: true, UserID: userID,
		})
	})
	return n, err
}

func TestDestroyUserCatchesASessionIndexedMeanwhile(t *testing.T) {
	e := newEnv(t)
	late := &lateIndexed{counting: e.store, now: e.clock.Now}
	m, err := session.New(session.WithStore(late), session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e.m = m
	e.h = wrap(e, e.routes())
	c := &client{e: e}
	c.get("/login?u=alice")
	n, err := m.DestroyUser(t.Context(), "alice")
	if err != nil || n != 2 {
		t.Fatalf("DestroyUser = %d, %v; want 2 (the login and the one indexed during the first pass)", n, err)
	}
	if infos, _ := m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Fatalf("alice still has %d sessions after log-out-everywhere", len(infos))
	}
}
