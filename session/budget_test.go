package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// stallStore is a slow store on a simulated wall clock: every call takes
// delay, or ends at its context's deadline with the deadline's error if that
// comes first, as a store that checks deadlines by its own clock does. The
// Manager measures and bounds its calls by the same clock, so the test is
// exact and sleeps nowhere.
type stallStore struct {
	store.Store
	mu            sync.Mutex
	now           time.Time
	delay         time.Duration
	calls         []string
	conflictMoves bool // every Move loses a race, as under contention
}

func (s *stallStore) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *stallStore) stall(ctx context.Context, op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, op)
	dl, ok := ctx.Deadline()
	if !ok {
		return errors.New("stallStore: a store call without a deadline")
	}
	if !s.now.Before(dl) {
		return fmt.Errorf("stallStore: %w", context.DeadlineExceeded)
	}
	if next := s.now.Add(s.delay); next.After(dl) {
		s.now = dl
		return fmt.Errorf("stallStore: %w", context.DeadlineExceeded)
	}
	s.now = s.now.Add(s.delay)
	return nil
}

func (s *stallStore) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.stall(ctx, "load"); err != nil {
		return nil, err
	}
	return s.Store.Load(ctx, id)
}

func (s *stallStore) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := s.stall(ctx, "commit"); err != nil {
		return store.Result{}, err
	}
	return s.Store.Commit(ctx, id, c)
}

func (s *stallStore) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	if err := s.stall(ctx, "touch"); err != nil {
		return err
	}
	return s.Store.Touch(ctx, id, lastSeen, expires)
}

func (s *stallStore) Move(ctx context.Context, id string, m store.Moved, expires time.Time, v uint64) error {
	if err := s.stall(ctx, "move"); err != nil {
		return err
	}
	if s.conflictMoves {
		return store.ErrConflict
	}
	return s.Store.Move(ctx, id, m, expires, v)
}

func (s *stallStore) Delete(ctx context.Context, id string) error {
	if err := s.stall(ctx, "delete"); err != nil {
		return err
	}
	return s.Store.Delete(ctx, id)
}

func (s *stallStore) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.stall(ctx, "user_sessions"); err != nil {
		return nil, err
	}
	return s.Store.UserSessions(ctx, userID)
}

const (
	testStoreTimeout = 10 * time.Second
	testBudget       = 2 * testStoreTimeout // the default: twice the store timeout
)

func newStalled(t *testing.T) (*Manager, *stallStore) {
	t.Helper()
	mem := memstore.New()
	t.Cleanup(func() { mem.Close() })
	ss := &stallStore{Store: mem, now: time.Now()}
	m, err := New(WithStore(ss), WithStoreTimeout(testStoreTimeout), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.wall = ss.Now
	m.since = func(t time.Time) time.Duration { return ss.Now().Sub(t) }
	if m.cfg.storeBudget != testBudget {
		t.Fatalf("default budget %v, want %v", m.cfg.storeBudget, testBudget)
	}
	return m, ss
}

// request runs one request's session work and commit against m, and returns
// how much store time it took, the calls it made, and the commit's error.
func request(t *testing.T, m *Manager, ss *stallStore, cookies []string, work func(*Session)) (time.Duration, []string, error) {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	for _, v := range cookies {
		r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: v})
	}
	ss.mu.Lock()
	start := ss.now
	ss.calls = nil
	ss.mu.Unlock()
	s := m.Begin(r)
	work(s)
	err := s.Commit(http.Header{})
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.now.Sub(start), ss.calls, err
}

// newSession saves a session with no delay and returns its cookie value.
func newSession(t *testing.T, m *Manager, ss *stallStore) string {
	t.Helper()
	ss.delay = 0
	h := http.Header{}
	s := m.Begin(httptest.NewRequest("GET", "/", nil))
	s.Set("cart", "3 items")
	if err := s.Commit(h); err != nil {
		t.Fatal(err)
	}
	ck, err := http.ParseSetCookie(h.Get("Set-Cookie"))
	if err != nil {
		t.Fatal(err)
	}
	return ck.Value
}

func checkBounded(t *testing.T, took time.Duration, calls []string, err error) {
	t.Helper()
	if took > testBudget {
		t.Errorf("the request's store calls took %v (%.1f× the store timeout): %v; want at most the budget %v",
			took, float64(took)/float64(testStoreTimeout), calls, testBudget)
	}
	var se *StoreError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("commit error %v, want a *StoreError matching context.DeadlineExceeded (a 503)", err)
	}
}

// Logout plus a flash: the destroy (load, move, delete) and the new
// session's create, each taking most of a store timeout.
func TestBudgetBoundsLogoutAndFlash(t *testing.T) {
	m, ss := newStalled(t)
	cookie := newSession(t, m, ss)
	ss.delay = testStoreTimeout * 8 / 10
	took, calls, err := request(t, m, ss, []string{cookie}, func(s *Session) {
		s.Destroy()
		s.AddFlash("logged out")
	})
	checkBounded(t, took, calls, err)
}

// A login under contention: every attempt to retire the old token loses a
// race, and the rotation retries, each call well within the store timeout.
func TestBudgetBoundsAContendedRotation(t *testing.T) {
	m, ss := newStalled(t)
	cookie := newSession(t, m, ss)
	ss.delay = testStoreTimeout / 5
	ss.conflictMoves = true
	took, calls, err := request(t, m, ss, []string{cookie}, func(s *Session) {
		s.SetUserID("alice")
		s.Rotate()
	})
	checkBounded(t, took, calls, err)
}

// Three dead cookies (well-formed, never issued): a load for each.
func TestBudgetBoundsDeadCookies(t *testing.T) {
	m, ss := newStalled(t)
	var outcomes outcomeRecorder
	m.obs = &outcomes
	ss.delay = testStoreTimeout * 8 / 10
	dead := []string{newToken(), newToken(), newToken()}
	took, calls, err := request(t, m, ss, dead, func(s *Session) {
		Get[string](s, "cart")
		s.Set("cart", "1 item")
	})
	checkBounded(t, took, calls, err)
	// A call cut by the budget is the store's slowness, not the client's
	// doing: an error, not "canceled".
	if got := outcomes.list; len(got) == 0 || got[len(got)-1] != "load:error" {
		t.Errorf("outcomes %v, want the cut load to be an error", got)
	}
}

type outcomeRecorder struct {
	mu   sync.Mutex
	list []string
}

func (o *outcomeRecorder) StoreStart(ctx context.Context, _ StoreStartData) context.Context {
	return ctx
}

func (o *outcomeRecorder) StoreEnd(_ context.Context, d StoreEndData) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = append(o.list, d.Op.String()+":"+d.Outcome)
}

func (o *outcomeRecorder) Event(context.Context, EventData) {}

// Within the budget, a chain of calls completes, and time the handler spends
// between calls does not count against it.
func TestBudgetCountsStoreTimeOnly(t *testing.T) {
	m, ss := newStalled(t)
	cookie := newSession(t, m, ss)
	ss.delay = testStoreTimeout / 2
	took, calls, err := request(t, m, ss, []string{cookie}, func(s *Session) {
		Get[string](s, "cart")
		ss.mu.Lock()
		ss.now = ss.now.Add(time.Minute) // the handler's own slow work
		ss.mu.Unlock()
		s.Set("cart", "4 items")
	})
	if err != nil {
		t.Fatalf("commit after a slow handler: %v (calls %v, %v)", err, calls, took)
	}
}

// Each Manager-level call has a budget of its own, not shared with others.
func TestBudgetPerManagerCall(t *testing.T) {
	m, ss := newStalled(t)
	ss.delay = testStoreTimeout * 8 / 10
	for range 3 {
		if _, err := m.UserSessions(t.Context(), "alice"); err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
	}
}

// A write outlives the client's cancellation, but not the budget; once the
// budget is spent, a call fails without reaching the store.
func TestBudgetBoundsWritesOfACanceledRequest(t *testing.T) {
	m, ss := newStalled(t)
	var outcomes outcomeRecorder
	m.obs = &outcomes
	ss.delay = testStoreTimeout * 8 / 10
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := m.Begin(httptest.NewRequest("GET", "/", nil).WithContext(ctx))
	s.Set("a", "1")
	start := ss.Now()
	if err := s.Commit(http.Header{}); err != nil {
		t.Fatalf("a canceled request's write: %v", err)
	}
	ss.delay = time.Hour // the store hangs from now on
	for i, want := range []time.Duration{18 * time.Second, 20 * time.Second, 20 * time.Second} {
		s.Set("b", i)
		err := s.Commit(http.Header{})
		if took := ss.Now().Sub(start); !errors.Is(err, context.DeadlineExceeded) || took != want {
			t.Errorf("write %d: %v, store time %v in all; want DeadlineExceeded at %v", i+2, err, took, want)
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if n := len(ss.calls); n != 3 {
		t.Errorf("%d store calls (%v), want 3: none once the budget is spent", n, ss.calls)
	}
	// The budget was spent by the store's slowness, not by the client
	// going away: errors, not "canceled".
	want := []string{"commit:ok", "commit:error", "commit:error", "commit:error"}
	if got := outcomes.list; !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
