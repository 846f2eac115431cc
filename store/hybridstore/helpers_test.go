package hybridstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
)

// errDown is what a remote that is "down" returns.
var errDown = errors.New("test: remote down")

// remote wraps a store.Store, counts the calls that reach it, and can be told
// to fail or to hold loads. It exposes only the store.Store methods; the
// types below add the capabilities.
type remote struct {
	inner store.Store

	loads, versions, commits, touches, moves, deletes atomic.Int64

	down atomic.Bool // every call fails with errDown

	// hold, if set, is called by Load after the inner Load returned and
	// before Load returns: a test blocks there to race the load.
	mu         sync.Mutex
	hold       func(id string)
	holdCommit func(id string) // called by Commit before the inner Commit
	seen       map[string]bool // IDs of the notifications handled (notifyingRemote)
}

func (r *remote) fail() error {
	if r.down.Load() {
		return errDown
	}
	return nil
}

func (r *remote) Load(ctx context.Context, id string) (*store.Record, error) {
	r.loads.Add(1)
	if err := r.fail(); err != nil {
		return nil, err
	}
	rec, err := r.inner.Load(ctx, id)
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		hold(id)
		// A remote call fails with the caller's context if it ended
		// while the call was on its way.
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return rec, err
}

func (r *remote) setHold(f func(id string)) {
	r.mu.Lock()
	r.hold = f
	r.mu.Unlock()
}

func (r *remote) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	r.commits.Add(1)
	if err := r.fail(); err != nil {
		return store.Result{}, err
	}
	r.mu.Lock()
	hold := r.holdCommit
	r.mu.Unlock()
	if hold != nil {
		hold(id)
	}
	return r.inner.Commit(ctx, id, c)
}

func (r *remote) setHoldCommit(f func(id string)) {
	r.mu.Lock()
	r.holdCommit = f
	r.mu.Unlock()
}

func (r *remote) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	r.touches.Add(1)
	if err := r.fail(); err != nil {
		return err
	}
	return r.inner.Touch(ctx, id, lastSeen, expires)
}

func (r *remote) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	r.moves.Add(1)
	if err := r.fail(); err != nil {
		return err
	}
	return r.inner.Move(ctx, id, m, expires, ifVersion)
}

func (r *remote) Delete(ctx context.Context, id string) error {
	r.deletes.Add(1)
	if err := r.fail(); err != nil {
		return err
	}
	return r.inner.Delete(ctx, id)
}

func (r *remote) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := r.fail(); err != nil {
		return nil, err
	}
	return r.inner.UserSessions(ctx, userID)
}

func (r *remote) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := r.fail(); err != nil {
		return 0, err
	}
	return r.inner.DeleteUser(ctx, userID)
}

// plainRemote is neither Notifier nor Versioner: the hybrid runs on a TTL.
type plainRemote struct{ *remote }

// versionedRemote forwards Version: the hybrid revalidates.
type versionedRemote struct{ *remote }

func (r versionedRemote) Version(ctx context.Context, id string) (uint64, error) {
	r.versions.Add(1)
	if err := r.fail(); err != nil {
		return 0, err
	}
	return r.inner.(store.Versioner).Version(ctx, id)
}

// notifyingRemote forwards Notify: the hybrid listens.
type notifyingRemote struct{ *remote }

// Notify records the IDs of the notifications the hybrid store has handled.
func (r notifyingRemote) Notify(ctx context.Context, fn func(store.Event)) error {
	return r.inner.(store.Notifier).Notify(ctx, func(ev store.Event) {
		fn(ev)
		if ev.ID != "" {
			r.mu.Lock()
			if r.seen == nil {
				r.seen = map[string]bool{}
			}
			r.seen[ev.ID] = true
			r.mu.Unlock()
		}
	})
}

func (r *remote) hasSeen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// settle waits until the hybrid stores over rs have handled the notifications
// of every write made so far: it creates a marker record through w, whose
// notification comes after theirs (a backend announces in order), and waits
// for each to handle it.
func settle(t testing.TB, w store.Store, rs ...*remote) {
	t.Helper()
	marker := newID()
	now := time.Now()
	if _, err := w.Commit(context.Background(), marker, store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatalf("settle: %v", err)
	}
	for _, r := range rs {
		eventually(t, 5*time.Second, "the marker's notification", func() bool { return r.hasSeen(marker) })
	}
}

// fullRemote forwards both Notify and Version, as redisstore and pgstore
// have both.
type fullRemote struct{ notifyingRemote }

func (r fullRemote) Version(ctx context.Context, id string) (uint64, error) {
	return versionedRemote(r.notifyingRemote).Version(ctx, id)
}

var (
	_ store.Versioner = versionedRemote{}
	_ store.Notifier  = notifyingRemote{}
	_ store.Versioner = fullRemote{}
	_ store.Notifier  = fullRemote{}
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newID() string { return randHex(32) }

// newHybrid returns a hybrid store over r, closed when the test ends, and
// waits until it caches (a Notifier remote must deliver its first Reset).
func newHybrid(t testing.TB, r store.Store, opts ...hybridstore.Option) *hybridstore.Store {
	t.Helper()
	h := hybridstore.New(r, opts...)
	t.Cleanup(func() { h.Close() })
	waitCaching(t, h)
	return h
}

// waitCaching waits until h serves and fills local entries.
func waitCaching(t testing.TB, h *hybridstore.Store) {
	t.Helper()
	eventually(t, 5*time.Second, "the hybrid store to subscribe", func() bool { return !h.Stats().Bypassing })
}

// eventually polls cond every millisecond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// create creates a session under id with values, expiring in an hour of now.
func create(t testing.TB, s store.Store, id, user string, now time.Time, kv ...string) store.Result {
	t.Helper()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: user, Set: vals(kv...)}
	res, err := s.Commit(context.Background(), id, c)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return res
}

// set commits an update setting kv.
func set(t testing.TB, s store.Store, id string, kv ...string) store.Result {
	t.Helper()
	res, err := s.Commit(context.Background(), id, store.Change{Mode: store.Update, Set: vals(kv...)})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return res
}

func vals(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

// load loads id, failing the test on error.
func load(t testing.TB, s store.Store, id string) *store.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), id)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec
}

// value is the value of key in id's record, "<nil>" if there is no record.
func value(t testing.TB, s store.Store, id, key string) string {
	t.Helper()
	rec := load(t, s, id)
	switch {
	case rec == nil:
		return "<nil>"
	case rec.Moved != nil && !rec.Moved.Forwards():
		return "<ended>"
	}
	return string(rec.Values.Get(key))
}

// ended reports whether rec is no live session: none, or a tombstone.
func ended(rec *store.Record) bool { return rec == nil || rec.Moved != nil }
