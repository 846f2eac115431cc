package session_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/session/sessiontest"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

type gidKey struct{}

// sched runs goroutines' store calls one at a time in an order given by a
// prefix of choices (then the first runnable), recording the choice points.
type sched struct {
	mu      sync.Mutex
	cond    *sync.Cond
	live    map[int]bool
	waiting map[int]bool
	turn    int
	prefix  []int
	pos     int
	opts    []int // number of runnable goroutines at each choice
	trace   []string
}

func newSched(n int, prefix []int) *sched {
	s := &sched{live: map[int]bool{}, waiting: map[int]bool{}, turn: -1, prefix: prefix}
	s.cond = sync.NewCond(&s.mu)
	for i := range n {
		s.live[i] = true
	}
	return s
}

func (s *sched) decideLocked() {
	if s.turn != -1 {
		return
	}
	var run []int
	for g := range s.live {
		if !s.waiting[g] {
			return // someone still computing
		}
		run = append(run, g)
	}
	if len(run) == 0 {
		return
	}
	sort.Ints(run)
	i := 0
	if s.pos < len(s.prefix) {
		i = s.prefix[s.pos]
	}
	s.opts = append(s.opts, len(run))
	s.pos++
	s.turn = run[i]
	s.waiting[s.turn] = false
	s.cond.Broadcast()
}

func (s *sched) enter(g int) {
	s.mu.Lock()
	s.waiting[g] = true
	s.decideLocked()
	for s.turn != g {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

func (s *sched) leave() {
	s.mu.Lock()
	s.turn = -1
	s.decideLocked()
	s.mu.Unlock()
}

func (s *sched) exit(g int) {
	s.mu.Lock()
	delete(s.live, g)
	delete(s.waiting, g)
	s.decideLocked()
	s.mu.Unlock()
}

type gated struct {
	store.Store
	mu sync.Mutex
	s  *sched
}

func (w *gated) gate(ctx context.Context, op string) func() {
	g, ok := ctx.Value(gidKey{}).(int)
	w.mu.Lock()
	s := w.s
	w.mu.Unlock()
	if !ok || s == nil {
		return func() {}
	}
	s.enter(g)
	s.mu.Lock()
	s.trace = append(s.trace, fmt.Sprintf("g%d:%s", g, op))
	s.mu.Unlock()
	return s.leave
}

func (w *gated) Load(ctx context.Context, id string) (*store.Record, error) {
	defer w.gate(ctx, "Load")()
	return w.Store.Load(ctx, id)
}
func (w *gated) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	defer w.gate(ctx, "Commit")()
	return w.Store.Commit(ctx, id, c)
}
func (w *gated) Touch(ctx context.Context, id string, a, b time.Time) error {
	defer w.gate(ctx, "Touch")()
	return w.Store.Touch(ctx, id, a, b)
}
func (w *gated) Move(ctx context.Context, id string, m store.Moved, e time.Time, v uint64) error {
	defer w.gate(ctx, "Move")()
	return w.Store.Move(ctx, id, m, e, v)
}
func (w *gated) Delete(ctx context.Context, id string) error {
	defer w.gate(ctx, "Delete")()
	return w.Store.Delete(ctx, id)
}
func (w *gated) UserSessions(ctx context.Context, u string) ([]store.Info, error) {
	defer w.gate(ctx, "UserSessions")()
	return w.Store.UserSessions(ctx, u)
}
func (w *gated) DeleteUser(ctx context.Context, u string) (int, error) {
	defer w.gate(ctx, "DeleteUser")()
	return w.Store.DeleteUser(ctx, u)
}

type actor func(ctx context.Context, m *session.Manager, env *ilEnv)

type ilEnv struct {
	mu                    sync.Mutex
	cookies               []*http.Cookie
	first                 *http.Cookie
	ids                   []string
	destroyed, destroyErr []any
	commitErr             []error
}

func (e *ilEnv) add(c *http.Cookie) {
	if c != nil && c.MaxAge >= 0 && c.Value != "" {
		e.mu.Lock()
		e.cookies = append(e.cookies, c)
		e.mu.Unlock()
	}
}

func request(f func(s *session.Session)) actor {
	return func(ctx context.Context, m *session.Manager, env *ilEnv) {
		r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
		r.AddCookie(env.first)
		s := m.Begin(r)
		f(s)
		h := http.Header{}
		if err := s.Commit(h); err != nil {
			env.mu.Lock()
			env.commitErr = append(env.commitErr, err)
			env.mu.Unlock()
			return
		}
		env.add(sessiontest.Cookie(m, &http.Response{Header: h}))
	}
}

func destroyUser(ctx context.Context, m *session.Manager, env *ilEnv) {
	n, err := m.DestroyUser(ctx, "ann")
	env.mu.Lock()
	env.destroyed = append(env.destroyed, n)
	env.destroyErr = append(env.destroyErr, err)
	env.mu.Unlock()
}

func runInterleavings(t *testing.T, name string, opts []session.Option, actors []actor) {
	limit := 20000
	if len(actors) > 2 && os.Getenv("TETHER_EXHAUSTIVE") == "" {
		limit = 300 // all of them take 40 s under -race
	}
	var overcount, runs, fails, commitFails int
	var work [][]int
	work = append(work, nil)
	for len(work) > 0 && runs < limit {
		prefix := work[len(work)-1]
		work = work[:len(work)-1]
		st := &gated{Store: memstore.New()}
		m, err := session.New(append([]session.Option{session.WithStore(st), session.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		env := &ilEnv{}
		c := sessiontest.Login(t, m, "ann", map[string]any{"k": 1})
		env.cookies = append(env.cookies, c)
		env.first = c
		id := sessiontest.Open(m, c).ID()
		env.ids = append(env.ids, id)
		sc := newSched(len(actors), prefix)
		st.mu.Lock()
		st.s = sc
		st.mu.Unlock()
		var wg sync.WaitGroup
		for g, a := range actors {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sc.exit(g)
				a(context.WithValue(context.Background(), gidKey{}, g), m, env)
			}()
		}
		wg.Wait()
		st.mu.Lock()
		st.s = nil
		st.mu.Unlock()
		runs++
		// expand: alternatives at positions past the prefix
		for i := len(prefix); i < len(sc.opts); i++ {
			for alt := 1; alt < sc.opts[i]; alt++ {
				p := make([]int, i+1)
				for j := 0; j < i; j++ {
					if j < len(prefix) {
						p[j] = prefix[j]
					}
				}
				p[i] = alt
				work = append(work, p)
			}
		}
		for _, e := range env.commitErr {
			commitFails++
			if commitFails <= 5 {
				t.Errorf("%s: schedule %v: a request's commit failed: %v\n%v", name, sc.opts, e, sc.trace)
			}
		}
		ok := true
		for _, e := range env.destroyErr {
			if e != nil {
				ok = false
			}
		}
		if ok {
			for i, ck := range env.cookies {
				if u := sessiontest.Open(m, ck).UserID(); u != "" {
					fails++
					if fails <= 5 {
						t.Errorf("%s: schedule %v: cookie %d still logged in as %q after DestroyUser succeeded (destroyed %v)\n%v", name, sc.opts, i, u, env.destroyed, sc.trace)
					}
				}
			}
			if infos, _ := m.UserSessions(context.Background(), "ann"); len(infos) != 0 {
				fails++
				if fails <= 5 {
					t.Errorf("%s: schedule prefix %v: UserSessions after = %d", name, prefix, len(infos))
				}
			}
			for _, n := range env.destroyed {
				if n.(int) > 1 {
					overcount++
				}
			}
		}
		m.Close()
		st.Store.(*memstore.Store).Close()
	}
	t.Logf("%s: %d interleavings, %d violations, %d DestroyUser counts over 1 (one device)", name, runs, fails, overcount)
}

// Every order of the store calls of a few requests of one device and of
// DestroyUser (calls are atomic; set TETHER_EXHAUSTIVE=1 for all orders of
// the three-party cases): once DestroyUser has returned success, no cookie
// any of them held or was handed is logged in, and the user has no session;
// and no request's commit fails: a session destroyed under a request ends
// for it, its changes dropped (a rotation whose new record DestroyUser ended
// between its attempts once failed with "record moved by rotation").
// A re-login is a privilege change of the user the session loaded; a login
// that names the user afresh after DestroyUser is a new login, which it
// does not prevent. DestroyUser's count is logged: a device rotating while it
// runs counts twice in most orders (its old record and the new one).
func TestDestroyUserInterleavings(t *testing.T) {
	rot := request(func(s *session.Session) { _ = s.UserID(); s.Rotate() })
	// a privilege change of the loaded user (step-up): re-login as whoever the
	// session says, never as a fixed name (that would be a fresh login)
	relogin := request(func(s *session.Session) {
		if u := s.UserID(); u != "" {
			s.SetUserID(u)
			s.Rotate()
		}
	})
	write := request(func(s *session.Session) { s.Set("w", 2) })
	readWrite := request(func(s *session.Session) { _ = s.UserID(); s.Set("w", 2) })
	periodic := request(func(s *session.Session) { _ = s.UserID(); s.Set("p", 3) })
	revoke := func(ctx context.Context, m *session.Manager, env *ilEnv) {
		_ = m.DestroySession(ctx, "ann", env.ids[0])
	}
	logout := request(func(s *session.Session) { s.Destroy() })
	rotEvery := []session.Option{session.WithRotateEvery(time.Nanosecond)}
	for _, tc := range []struct {
		name   string
		opts   []session.Option
		actors []actor
	}{
		{"rotate", nil, []actor{rot, destroyUser}},
		{"relogin", nil, []actor{relogin, destroyUser}},
		{"write", nil, []actor{write, destroyUser}},
		{"readwrite", nil, []actor{readWrite, destroyUser}},
		{"rotate x2", nil, []actor{rot, rot, destroyUser}},
		{"rotate+relogin", nil, []actor{rot, relogin, destroyUser}},
		{"rotate+revoke", nil, []actor{rot, revoke, destroyUser}},
		{"rotate+logout", nil, []actor{rot, logout, destroyUser}},
		{"periodic", rotEvery, []actor{periodic, destroyUser}},
		{"periodic x2", rotEvery, []actor{periodic, periodic, destroyUser}},
		{"periodic+rotate", rotEvery, []actor{periodic, rot, destroyUser}},
		{"periodic+write", rotEvery, []actor{periodic, write, destroyUser}},
		{"rotate+destroyuser x2", nil, []actor{rot, destroyUser, destroyUser}},
	} {
		runInterleavings(t, tc.name, tc.opts, tc.actors)
	}
}
