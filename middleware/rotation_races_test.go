package middleware_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// These tests interleave a login, a periodic rotation, a revocation and lost
// store replies deterministically, with the hooks of the hooked store and the
// fault modes of the replaying store below.

func idOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// loginWithSecret is /login followed by a value only the logged-in session
// may ever show.
func loginWithSecret(t *testing.T, e *env, cookie string) resp {
	t.Helper()
	r := e.do("GET", "/login?u=alice", cookie)
	if r.code != http.StatusOK || r.cookie == nil || r.cookie.MaxAge < 0 {
		t.Fatalf("login: %d %v", r.code, r.cookie)
	}
	if w := e.do("POST", "/set?k=secret&v=card", r.cookie.Value); w.code != http.StatusOK {
		t.Fatalf("write after login: %d", w.code)
	}
	return r
}

// assertShut checks that a token held by someone other than the logged-in
// client neither reads the login's secret nor is handed the login's cookie.
func assertShut(t *testing.T, e *env, who, token, loggedIn string) {
	t.Helper()
	r := e.do("GET", "/get?k=secret", token)
	if r.body != "-" {
		t.Errorf("%s reads the logged-in session's secret: %q", who, r.body)
	}
	if r.cookie != nil && r.cookie.Value == loggedIn {
		t.Errorf("%s was handed the logged-in cookie", who)
	}
	if r.cookie != nil && r.cookie.MaxAge >= 0 {
		if again := e.do("GET", "/get?k=secret", r.cookie.Value); again.body != "-" {
			t.Errorf("%s's new cookie reads the secret: %q", who, again.body)
		}
	}
}

func TestLoginRacingPeriodicRotationIsNotFixation(t *testing.T) {
	e, h := hookedEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	attacker := &client{e: e}
	attacker.do("POST", "/set?k=a&v=1")
	planted := attacker.cookie
	e.clock.Advance(16 * time.Minute) // the planted token is due for periodic rotation

	// The victim logs in with the planted token. Its rotation is held
	// between creating its new record and retiring the planted one, while
	// the attacker's request rotates the planted token periodically.
	started, release := h.holdNextMove()
	done := make(chan resp)
	go func() { done <- e.do("GET", "/login?u=alice", planted) }()
	<-started
	ar := e.do("GET", "/get?k=a", planted)
	if ar.cookie == nil || ar.cookie.MaxAge < 0 {
		t.Fatalf("the attacker's periodic rotation did not happen: %v", ar.cookie)
	}
	rotated := ar.cookie.Value
	close(release)
	login := <-done
	if login.code != http.StatusOK || login.cookie == nil || login.cookie.MaxAge < 0 {
		t.Fatalf("login: %d %v", login.code, login.cookie)
	}
	victim := login.cookie.Value
	if victim == rotated {
		t.Fatal("the login ended on the token the attacker's request was handed")
	}
	if w := e.do("POST", "/set?k=secret&v=card", victim); w.code != http.StatusOK {
		t.Fatalf("write after login: %d", w.code)
	}
	if got := e.do("GET", "/get?k=a", victim); got.body != "1" {
		t.Errorf("the login lost the session's data: %q", got.body)
	}
	assertShut(t, e, "the attacker's rotated token", rotated, victim)
	assertShut(t, e, "the planted token", planted, victim)
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 1 || infos[0].ID != idOf(victim) {
		t.Errorf("alice's sessions: %+v, want only the login's", infos)
	}
}

func TestPeriodicRotationRacingLoginJoinsNothing(t *testing.T) {
	e, h := hookedEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	attacker := &client{e: e}
	attacker.do("POST", "/set?k=a&v=1")
	planted := attacker.cookie
	e.clock.Advance(16 * time.Minute)

	// The attacker's periodic rotation is held; the victim's login lands
	// first; then the periodic rotation finds the login's tombstone.
	started, release := h.holdNextMove()
	done := make(chan resp)
	go func() { done <- e.do("GET", "/get?k=a", planted) }()
	<-started
	login := loginWithSecret(t, e, planted)
	close(release)
	ar := <-done
	if ar.cookie != nil && ar.cookie.MaxAge >= 0 && ar.cookie.Value != planted {
		assertShut(t, e, "the attacker's late rotation", ar.cookie.Value, login.cookie.Value)
	}
	assertShut(t, e, "the planted token", planted, login.cookie.Value)
}

// skewedEnv is an env whose store judges expiry by a clock lag behind the
// session manager's: another node's clock, or the store's own.
func skewedEnv(t *testing.T, lag time.Duration, opts ...session.Option) *env {
	e := newEnv(t)
	e.mem.Close() // newEnv's cleanup closes the replacement
	e.mem = memstore.New(memstore.WithClock(func() time.Time { return e.clock.Now().Add(-lag) }))
	e.store = &counting{Store: e.mem}
	m, err := session.New(append([]session.Option{
		session.WithStore(e.store), session.WithClock(e.clock.Now),
		session.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.h = middleware.Sessions(m)(e.routes())
	return e
}

func TestLoginTombstoneForwardsNothingUnderClockSkew(t *testing.T) {
	e := skewedEnv(t, 3*time.Second, session.WithRotateGrace(30*time.Second))
	attacker := &client{e: e}
	attacker.do("POST", "/set?k=a&v=1")
	planted := attacker.cookie
	login := loginWithSecret(t, e, planted)

	rec, err := e.mem.Load(t.Context(), idOf(planted))
	if err != nil {
		t.Fatal(err)
	}
	if rec != nil && (rec.Moved == nil || rec.Moved.Forwards()) {
		t.Fatalf("the login left a record under the planted token that can forward: %+v", rec)
	}
	e.clock.Advance(time.Second) // the store, 3 s behind, has expired nothing yet
	assertShut(t, e, "the planted token", planted, login.cookie.Value)
}

func TestExpiredForwardIsNotFollowedWhateverTheStoreClockSays(t *testing.T) {
	e := skewedEnv(t, 10*time.Second, session.WithRotateEvery(15*time.Minute),
		session.WithRotateGrace(30*time.Second), session.WithTouchInterval(time.Minute))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	e.clock.Advance(16 * time.Minute)
	c.get("/get?k=a") // rotates; the old token forwards for 30 s
	if c.cookie == old {
		t.Fatal("no rotation")
	}
	e.clock.Advance(35 * time.Second) // past the grace here; 25 s into it by the store's clock
	r := e.do("GET", "/get?k=a", old)
	if r.body != "-" || (r.cookie != nil && r.cookie.Value == c.cookie) {
		t.Fatalf("an expired forward was followed: body %q, cookie %v", r.body, r.cookie)
	}
}

func TestOldTokenAfterLoginLeavesTheCookieAlone(t *testing.T) {
	e := newEnv(t, session.WithRotateGrace(30*time.Second))
	c := &client{e: e}
	c.do("POST", "/set?k=a&v=1")
	old := c.cookie
	loginWithSecret(t, e, old)
	// Another tab's request, sent with the old cookie before the login's
	// response arrived, must not expire the cookie the login just set.
	for _, target := range []string{"/get?k=a", "/set?k=b&v=2"} {
		r := e.do("GET", target, old)
		if r.cookie != nil {
			t.Errorf("%s with the pre-login token set cookie %v; it would log the new session out", target, r.cookie)
		}
		// A read has nothing to drop: no warning for a tab that was
		// simply behind.
		if dropped := strings.Contains(e.logs.String(), "changes dropped"); dropped != (target != "/get?k=a") {
			t.Errorf("%s with the pre-login token: changes-dropped logged %v; logs: %s", target, dropped, e.logs.String())
		}
	}
}

func TestDestroySessionFollowsConcurrentRotation(t *testing.T) {
	e, h := hookedEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	c := &client{e: e}
	c.get("/login?u=alice")
	c.do("POST", "/set?k=a&v=1")
	infos, err := e.m.UserSessions(t.Context(), "alice")
	if err != nil || len(infos) != 1 {
		t.Fatalf("sessions: %v %v", infos, err)
	}
	e.clock.Advance(16 * time.Minute)

	// The revocation is held just before it ends the record it checked;
	// meanwhile the device's next request rotates the session.
	started, release := h.holdNextMove()
	done := make(chan error)
	go func() { done <- e.m.DestroySession(context.Background(), "alice", infos[0].ID) }()
	<-started
	before := c.cookie
	c.get("/get?k=a")
	if c.cookie == before {
		t.Fatal("the device's request did not rotate")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("DestroySession: %v", err)
	}
	if got := e.do("GET", "/get?k=a", c.cookie); got.body != "-" {
		t.Fatalf("the revoked device is still logged in: %q", got.body)
	}
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Errorf("alice still has sessions after the revocation: %+v", infos)
	}
}

// replaying wraps a store and replays the effect of a lost reply on the
// next call of one kind: the call applies, and then either the client
// resends it (the caller sees the resend's answer) or the caller sees an
// error with no outcome.
type replaying struct {
	store.Store
	mode   atomic.Pointer[string] // "move-resend", "move-lost", "create-resend"
	replay atomic.Int32
}

var errLostReply = &lostReply{}

type lostReply struct{}

func (*lostReply) Error() string { return "test: connection closed before the reply" }

func (r *replaying) take(mode string) bool {
	if p := r.mode.Load(); p != nil && *p == mode && r.mode.CompareAndSwap(p, nil) {
		r.replay.Add(1)
		return true
	}
	return false
}

func (r *replaying) Move(ctx context.Context, id string, m store.Moved, exp time.Time, v uint64) error {
	err := r.Store.Move(ctx, id, m, exp, v)
	switch {
	case err != nil:
	case r.take("move-resend"):
		return r.Store.Move(ctx, id, m, exp, v)
	case r.take("move-lost"):
		return errLostReply
	}
	return err
}

func (r *replaying) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := r.Store.Commit(ctx, id, c)
	if err == nil && c.Mode == store.Create && r.take("create-resend") {
		return r.Store.Commit(ctx, id, c)
	}
	return res, err
}

func replayingEnv(t *testing.T, opts ...session.Option) (*env, *replaying) {
	e := newEnv(t)
	rs := &replaying{Store: e.store}
	m, err := session.New(append([]session.Option{session.WithStore(rs), session.WithClock(e.clock.Now),
		session.WithTouchInterval(time.Minute),
		session.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.h = middleware.Sessions(m)(e.routes())
	return e, rs
}

func TestRotationSurvivesLostReplies(t *testing.T) {
	for _, mode := range []string{"move-resend", "move-lost", "create-resend"} {
		for _, kind := range []string{"login", "periodic"} {
			t.Run(mode+"/"+kind, func(t *testing.T) {
				e, rs := replayingEnv(t, session.WithRotateEvery(15*time.Minute))
				c := &client{e: e}
				c.do("POST", "/set?k=a&v=1")
				old := c.cookie
				rs.mode.Store(&mode)
				var r resp
				if kind == "login" {
					r = c.do("GET", "/login?u=alice")
				} else {
					e.clock.Advance(16 * time.Minute)
					r = c.do("GET", "/get?k=a")
				}
				if rs.replay.Load() != 1 {
					t.Fatalf("the fault was not injected (%s)", mode)
				}
				if r.code != http.StatusOK || r.cookie == nil || r.cookie.MaxAge < 0 || c.cookie == old {
					t.Fatalf("rotation under a lost reply: status %d, cookie %v", r.code, r.cookie)
				}
				if got := c.get("/get?k=a"); got != "1" {
					t.Fatalf("the rotated session lost its data: %q", got)
				}
				if kind == "login" {
					if got := e.do("GET", "/get?k=a", old); got.body != "-" {
						t.Errorf("the pre-login token still reads the session: %q", got.body)
					}
				}
			})
		}
	}
}

func TestFirstWriteSurvivesResentCreate(t *testing.T) {
	e, rs := replayingEnv(t)
	mode := "create-resend"
	rs.mode.Store(&mode)
	c := &client{e: e}
	if r := c.do("POST", "/set?k=a&v=1"); r.code != http.StatusOK || c.cookie == "" {
		t.Fatalf("first write under a resent create: %d %v", r.code, r.cookie)
	}
	if got := c.get("/get?k=a"); got != "1" {
		t.Fatalf("first write: %q", got)
	}
	if n := e.mem.Len(); n != 1 {
		t.Errorf("%d records after one session's first write", n)
	}
}

func TestWriteWithExpiredCookieStartsNewSession(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	c.do("POST", "/set?k=old&v=1")
	dead := c.cookie
	e.clock.Advance(session.DefaultIdleTimeout + time.Minute)

	// "Come back after the idle timeout and add to cart": the write
	// never reads, so it learns only at commit that its session ended.
	r := c.do("POST", "/set?k=cart&v=apple")
	if r.code != http.StatusOK || r.cookie == nil || r.cookie.MaxAge < 0 || c.cookie == dead {
		t.Fatalf("write with an expired cookie: %d %v", r.code, r.cookie)
	}
	if got := c.get("/get?k=cart"); got != "apple" {
		t.Fatalf("the write was lost: %q", got)
	}
	if got := c.get("/get?k=old"); got != "-" {
		t.Fatalf("the expired session came back: %q", got)
	}
}

func TestLoginWithoutSessionLogsNoWarning(t *testing.T) {
	e := newEnv(t)
	c := &client{e: e}
	if got := c.get("/login?u=alice"); got != "welcome" {
		t.Fatal(got)
	}
	if c.cookie == "" {
		t.Fatal("login set no cookie")
	}
	if logs := e.logs.String(); strings.Contains(logs, "rotation postponed") || strings.Contains(logs, "ERROR") {
		t.Errorf("a plain login logged: %s", logs)
	}
}
