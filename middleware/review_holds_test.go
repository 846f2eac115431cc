package middleware_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// Scenarios the review tried against the rotation rewrite that held. They
// stay as regression tests.

// loginRoutes adds /remember (RememberMe(true) and a value) and /loginw (a
// login whose request also writes a key).
func loginRoutes(e *env) {
	mux := http.NewServeMux()
	mux.Handle("/", e.routes())
	mux.HandleFunc("/remember", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.RememberMe(true)
		s.Set("a", "1")
	})
	mux.HandleFunc("/loginw", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.SetUserID(r.FormValue("u"))
		s.Rotate()
		s.Set("k", "login")
	})
	e.h = wrap(e, mux)
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// A login (which also writes a key) and two periodic rotations of the same
// planted, remembered token, each held at its Load or its Move of the planted
// record, released one at a time in every order: the login always ends on a
// token only it was handed, keeps the session's data and persistence, and no
// other token reads what is written after it.
func TestReviewHoldsLoginAndTwoPeriodicRotationsInEveryOrder(t *testing.T) {
	for _, order := range permutations(3) {
		for points := range 8 {
			name := fmt.Sprintf("release%v/points%03b", order, points)
			t.Run(name, func(t *testing.T) {
				e, p, _ := probeEnv(t, 0, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
				loginRoutes(e)
				attacker := &client{e: e}
				attacker.do("POST", "/remember")
				planted := attacker.cookie
				e.clock.Advance(16 * time.Minute)

				targets := []string{"/loginw?u=alice", "/get?k=a", "/get?k=a"}
				var releases []chan struct{}
				var dones []chan resp
				for i, target := range targets {
					op := "move"
					if points&(1<<i) != 0 {
						op = "load"
					}
					started, release := p.hold(op, idOf(planted))
					dones = append(dones, e.async("GET", target, planted))
					<-started
					releases = append(releases, release)
				}
				out := make([]resp, 3)
				for _, i := range order {
					close(releases[i])
					out[i] = <-dones[i]
				}
				login := out[0]
				if login.code != http.StatusOK || login.cookie == nil || login.cookie.MaxAge <= 0 {
					t.Fatalf("login: %d %v (want a persistent cookie)", login.code, login.cookie)
				}
				victim := login.cookie.Value
				if w := e.do("POST", "/set?k=secret&v=card", victim); w.code != http.StatusOK {
					t.Fatalf("write after login: %d", w.code)
				}
				for _, k := range []string{"a", "k"} {
					if got := e.do("GET", "/get?k="+k, victim); got.body != map[string]string{"a": "1", "k": "login"}[k] {
						t.Errorf("the login's session lost %s: %q", k, got.body)
					}
				}
				assertShut(t, e, "the planted token", planted, victim)
				for i, r := range out[1:] {
					if r.cookie != nil && r.cookie.Value == victim {
						t.Errorf("periodic rotation %d was handed the login's cookie", i+1)
					}
					if r.cookie != nil && r.cookie.MaxAge >= 0 {
						assertShut(t, e, fmt.Sprintf("periodic rotation %d's token", i+1), r.cookie.Value, victim)
					}
				}
				if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 1 || infos[0].ID != idOf(victim) {
					t.Errorf("alice's sessions: %+v, want only the login's", infos)
				}
			})
		}
	}
}

// A logout with the planted token after the victim's login, directly or
// after the planted token had been rotated periodically into the token the
// victim logged in with, does not log the victim out.
func TestReviewHoldsPlantedLogoutAfterLogin(t *testing.T) {
	for _, viaPeriodic := range []bool{false, true} {
		t.Run(fmt.Sprint("periodic=", viaPeriodic), func(t *testing.T) {
			e := newEnv(t, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Hour))
			attacker := &client{e: e}
			attacker.do("POST", "/set?k=a&v=1")
			planted := attacker.cookie
			victim := &client{e: e, cookie: planted}
			if viaPeriodic {
				e.clock.Advance(16 * time.Minute)
				victim.get("/get?k=a") // planted forwards to the victim's new token
			}
			login := loginWithSecret(t, e, victim.cookie)
			if r := e.do("GET", "/logout", planted); r.code != http.StatusOK {
				t.Fatalf("planted logout: %d", r.code)
			}
			if got := e.do("GET", "/get?k=secret", login.cookie.Value); got.body != "card" {
				t.Errorf("the planted token's logout logged the victim out: %q", got.body)
			}
		})
	}
}

// DestroySession held before it ends the record while the device logs in
// again: as the same user the revocation follows and ends the new session; as
// another user it leaves that user's session alone.
func TestReviewHoldsDestroySessionRacingLogin(t *testing.T) {
	for _, user := range []string{"alice", "bob"} {
		t.Run(user, func(t *testing.T) {
			e, p, _ := probeEnv(t, 0)
			dev := &client{e: e}
			dev.get("/login?u=alice")
			dev.do("POST", "/set?k=a&v=1")
			id := idOf(dev.cookie)
			started, release := p.hold("move", id)
			done := make(chan error, 1)
			go func() { done <- e.m.DestroySession(t.Context(), "alice", id) }()
			<-started
			if r := dev.do("GET", "/login?u="+user); r.code != http.StatusOK {
				t.Fatalf("login: %d", r.code)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("DestroySession: %v", err)
			}
			got := dev.do("GET", "/get?k=a").body
			if user == "alice" && got != "-" {
				t.Errorf("the device logged in again as alice survived the revocation: %q", got)
			}
			if user == "bob" && got != "1" {
				t.Errorf("revoking alice's device ended bob's session: %q", got)
			}
			if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
				t.Errorf("alice's sessions after the revocation: %+v", infos)
			}
		})
	}
}

// DestroyUser while a re-login of the same user is held between creating
// its record and retiring the old one: nothing of alice is left.
func TestReviewHoldsDestroyUserRacingLogin(t *testing.T) {
	e, p, _ := probeEnv(t, 0)
	dev := &client{e: e}
	dev.get("/login?u=alice")
	old := dev.cookie
	started, release := p.hold("move", idOf(old))
	done := e.async("GET", "/login?u=alice", old)
	<-started
	n, err := e.m.DestroyUser(t.Context(), "alice")
	if err != nil || n == 0 {
		t.Fatalf("DestroyUser: %d %v", n, err)
	}
	close(release)
	r := <-done
	if r.cookie != nil && r.cookie.MaxAge >= 0 {
		if got := e.do("GET", "/get?k=a", r.cookie.Value); got.body != "-" || e.mem.Len() != 0 {
			t.Errorf("a login racing DestroyUser survived: %d records", e.mem.Len())
		}
	}
	if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
		t.Errorf("alice's sessions: %+v", infos)
	}
}

// Lost replies on the logout's Move (resent, or lost with an error) and on
// its Delete: the logout either succeeds or answers 503, and the session is
// over in both cases; no record is left.
func TestReviewHoldsLostRepliesOnLogout(t *testing.T) {
	for _, fault := range []string{"move-resend", "move-lost", "delete-lost"} {
		t.Run(fault, func(t *testing.T) {
			e, p, rs := probeEnv(t, 0)
			c := &client{e: e}
			c.get("/login?u=alice")
			c.do("POST", "/set?k=a&v=1")
			tok := c.cookie
			switch fault {
			case "delete-lost":
				p.add(&probeHook{op: "delete", lose: true})
			default:
				rs.mode.Store(&fault)
			}
			r := e.do("GET", "/logout", tok)
			if r.code != http.StatusOK && r.code != http.StatusServiceUnavailable {
				t.Fatalf("logout: %d", r.code)
			}
			if got := e.do("GET", "/get?k=a", tok); got.body != "-" {
				t.Errorf("the session survived a logout whose reply was lost: %q", got.body)
			}
			if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != 0 {
				t.Errorf("alice's sessions: %+v", infos)
			}
		})
	}
}

// Three periodic rotations of one token, each reading and writing a key of
// its own, held at their Move and released in every order: they converge on
// one session that keeps every write, and every cookie they hand out reads
// it.
func TestReviewHoldsThreePeriodicRotationsConverge(t *testing.T) {
	for _, order := range permutations(3) {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			e, p, _ := probeEnv(t, 0, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
			mux := http.NewServeMux()
			mux.Handle("/", e.routes())
			mux.HandleFunc("/rw", func(w http.ResponseWriter, r *http.Request) {
				s := session.From(r.Context())
				session.Get[string](s, "a")
				s.Set(r.FormValue("k"), "1")
			})
			e.h = wrap(e, mux)
			c := &client{e: e}
			c.do("POST", "/set?k=a&v=1")
			old := c.cookie
			e.clock.Advance(16 * time.Minute)
			var releases []chan struct{}
			var dones []chan resp
			for i := range 3 {
				started, release := p.hold("move", idOf(old))
				dones = append(dones, e.async("GET", fmt.Sprintf("/rw?k=w%d", i), old))
				<-started
				releases = append(releases, release)
			}
			out := make([]resp, 3)
			for _, i := range order {
				close(releases[i])
				out[i] = <-dones[i]
			}
			for i, r := range out {
				if r.code != http.StatusOK || r.cookie == nil || r.cookie.MaxAge < 0 {
					t.Fatalf("request %d: %d %v", i, r.code, r.cookie)
				}
				for _, k := range []string{"a", "w0", "w1", "w2"} {
					if got := e.do("GET", "/get?k="+k, r.cookie.Value); got.body != "1" {
						t.Errorf("request %d's cookie reads %s=%q", i, k, got.body)
					}
				}
			}
			if n := e.mem.Len(); n != 2 {
				t.Errorf("%d records, want the session and one tombstone", n)
			}
		})
	}
}

// A streaming handler (headers sent, then a write: CommitLate) on each path
// the rewrite added: a dead cookie (restart), a pre-login token (a login's
// tombstone), an old token within the grace (a forward). None fails the
// request or sets a cookie after the headers; a write that needs no cookie
// lands, one that would need a new session is dropped and logged, and nothing
// reaches the login's session.
func TestReviewHoldsCommitLateOnTheNewPaths(t *testing.T) {
	setup := func(t *testing.T) *env {
		e := periodic(t, session.WithRotateGrace(time.Minute))
		mux := http.NewServeMux()
		mux.Handle("/", e.routes())
		mux.HandleFunc("/streamrw", func(w http.ResponseWriter, r *http.Request) {
			s := session.From(r.Context())
			session.Get[string](s, "a")
			w.Write([]byte("first "))
			http.NewResponseController(w).Flush()
			s.Set("late", "1")
		})
		e.h = wrap(e, mux)
		return e
	}
	check := func(t *testing.T, r resp) {
		t.Helper()
		if r.code != http.StatusOK || r.cookie != nil {
			t.Errorf("status %d, cookie %v", r.code, r.cookie)
		}
	}
	t.Run("dead cookie", func(t *testing.T) {
		e := setup(t)
		c := &client{e: e}
		c.do("POST", "/set?k=a&v=1")
		e.clock.Advance(session.DefaultIdleTimeout + time.Minute)
		check(t, e.do("GET", "/stream", c.cookie))
		if !strings.Contains(e.logs.String(), "after the response headers") {
			t.Errorf("the dropped late write was not logged: %s", e.logs.String())
		}
	})
	t.Run("pre-login token", func(t *testing.T) {
		e := setup(t)
		c := &client{e: e}
		c.do("POST", "/set?k=a&v=1")
		login := loginWithSecret(t, e, c.cookie)
		check(t, e.do("GET", "/streamrw", c.cookie))
		if got := e.do("GET", "/get?k=late", login.cookie.Value); got.body != "-" {
			t.Errorf("the pre-login token's late write reached the login's session")
		}
	})
	t.Run("forward", func(t *testing.T) {
		e := setup(t)
		c := &client{e: e}
		c.do("POST", "/set?k=a&v=1")
		old := c.cookie
		e.clock.Advance(16 * time.Minute)
		c.get("/get?k=a") // rotates; old forwards
		check(t, e.do("GET", "/stream", old))
		if got := c.get("/get?k=after"); got != "headers" {
			t.Errorf("the late write through the forward: %q", got)
		}
	})
}

// A rotation whose Move conflicts with a concurrent write retries with an
// Update+Clear of its new record; that Update's reply lost (with an error, or
// resent by the client) either answers 503 with the old session intact, or
// rotates with every value.
func TestReviewHoldsLostReplyOnTheRotationRetry(t *testing.T) {
	for _, kind := range []string{"lost", "resent"} {
		t.Run(kind, func(t *testing.T) {
			e, p, _ := probeEnv(t, 0)
			c := &client{e: e}
			c.do("POST", "/set?k=a&v=1")
			old := c.cookie
			p.before("move", idOf(old), func() {
				e.do("POST", "/set?k=b&v=2", old)
				p.add(&probeHook{op: "update", lose: kind == "lost", twice: kind == "resent"})
			})
			r := e.do("GET", "/login?u=alice", old)
			tok := old
			switch {
			case kind == "lost" && r.code == http.StatusServiceUnavailable:
			case kind == "resent" && r.code == http.StatusOK && r.cookie != nil && r.cookie.MaxAge >= 0:
				tok = r.cookie.Value
			default:
				t.Fatalf("login: %d %v", r.code, r.cookie)
			}
			if got := e.do("GET", "/keys", tok); got.body != "a,b" {
				t.Errorf("after the login the session holds %q, want a,b", got.body)
			}
			if infos, _ := e.m.UserSessions(t.Context(), "alice"); len(infos) != map[bool]int{true: 1, false: 0}[tok != old] {
				t.Errorf("alice's sessions: %+v", infos)
			}
		})
	}
}

// A browser-session cookie (RememberMe(false), against the persistent
// default) stays one on the new paths: the login that follows a periodic
// rotation and rotates again, and the periodic rotation that loses and joins
// the winner's token.
func TestReviewHoldsRememberMeOnTheNewPaths(t *testing.T) {
	e, p, _ := probeEnv(t, 0, session.WithRotateEvery(15*time.Minute), session.WithRotateGrace(time.Minute))
	mux := http.NewServeMux()
	mux.Handle("/", e.routes())
	mux.HandleFunc("/forget", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.RememberMe(false)
		s.Set("a", "1")
	})
	e.h = wrap(e, mux)
	c := &client{e: e}
	if r := c.do("GET", "/forget"); r.cookie == nil || r.cookie.MaxAge != 0 {
		t.Fatalf("RememberMe(false): %v", r.cookie)
	}
	old := c.cookie
	e.clock.Advance(16 * time.Minute)

	s1, r1 := p.hold("move", idOf(old)) // the login, held before retiring old
	login := e.async("GET", "/login?u=alice", old)
	<-s1
	s2, r2 := p.hold("move", idOf(old)) // a periodic rotation, held too
	loser := e.async("GET", "/get?k=a", old)
	<-s2
	winner := e.do("GET", "/get?k=a", old) // rotates old → A
	close(r2)
	close(r1)
	for name, r := range map[string]resp{"winner": winner, "loser": <-loser, "login": <-login} {
		if name == "loser" && r.cookie == nil {
			continue // it joined a token the login retired: it leaves the cookie alone
		}
		if r.cookie == nil || r.cookie.MaxAge != 0 || !r.cookie.Expires.IsZero() {
			t.Errorf("%s: cookie %v, want a browser-session cookie", name, r.cookie)
		}
	}
}
