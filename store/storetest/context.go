package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

var contextTests = []test{
	{"Canceled", testCanceled},
	{"DeadlineExceeded", testDeadlineExceeded},
	{"WritesBeforeDeadline", testWritesBeforeDeadline},
	{"LateWrites", testLateWrites},
}

// promptly is how long a method may take to notice a done context.
const promptly = 5 * time.Second

func testCanceled(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	testDoneContext(t, e, ctx, context.Canceled)
}

func testDeadlineExceeded(t *testing.T, e *env) {
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	testDoneContext(t, e, ctx, context.DeadlineExceeded)
}

// testDoneContext calls every method with a done context: each must return
// promptly with ctx's error (wrapped or not).
func testDoneContext(t *testing.T, e *env, ctx context.Context, want error) {
	s := e.store(t)
	id, user := newID(), newUser()
	rec := e.create(t, s, id, user, vals("a", "1"))
	now := e.now()
	calls := []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, err := s.Load(ctx, id); return err }},
		{"Commit(create)", func() error {
			c := e.change(store.Create)
			_, err := s.Commit(ctx, newID(), c)
			return err
		}},
		{"Commit(update)", func() error {
			c := e.change(store.Update)
			c.Set = vals("b", "2")
			_, err := s.Commit(ctx, id, c)
			return err
		}},
		{"Touch", func() error { return s.Touch(ctx, id, now, now.Add(time.Hour)) }},
		{"Move", func() error { return s.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Hour), rec.Version) }},
		{"Delete", func() error { return s.Delete(ctx, id) }},
		{"UserSessions", func() error { _, err := s.UserSessions(ctx, user); return err }},
		{"DeleteUser", func() error { _, err := s.DeleteUser(ctx, user); return err }},
	}
	if v, ok := s.(store.Versioner); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"Version", func() error { _, err := v.Version(ctx, id); return err }})
	}
	if p, ok := s.(store.Pinger); ok {
		calls = append(calls, struct {
			name string
			call func() error
		}{"Ping", func() error { return p.Ping(ctx) }})
	}
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			if !errors.Is(err, want) {
				t.Errorf("%s with a done context: error %v, want %v", c.name, err, want)
			}
		case <-time.After(promptly):
			t.Errorf("%s with a done context has not returned after %v", c.name, promptly)
		}
	}
}

// aheadOfBoth returns a deadline d past both the real clock and the store's,
// without a monotonic reading, so that the store compares wall times.
func (e *env) aheadOfBoth(d time.Duration) time.Time {
	now := time.Now()
	if sn := e.now(); sn.After(now) {
		now = sn
	}
	return now.Add(d).Round(0)
}

// A write whose deadline is ahead, by the real clock and the store's, is
// applied: the store compares the deadline, not the presence of one.
func testWritesBeforeDeadline(t *testing.T, e *env) {
	s := e.store(t)
	ctx, cancel := context.WithDeadline(t.Context(), e.aheadOfBoth(time.Minute))
	defer cancel()
	id, user := newID(), newUser()
	c := e.change(store.Create)
	c.Set, c.UserID, c.SetUserID = vals("a", "1"), user, true
	if _, err := s.Commit(ctx, id, c); err != nil {
		t.Fatalf("Create before its deadline: %v", err)
	}
	u := e.change(store.Update)
	u.Set = vals("b", "2")
	if _, err := s.Commit(ctx, id, u); err != nil {
		t.Fatalf("Update before its deadline: %v", err)
	}
	now := e.now()
	if err := s.Touch(ctx, id, now, now.Add(2*time.Hour)); err != nil {
		t.Fatalf("Touch before its deadline: %v", err)
	}
	rec := mustLoad(t, s, id)
	wantValues(t, rec, vals("a", "1", "b", "2"))
	wantTime(t, "Expires after Touch", rec.Expires, now.Add(2*time.Hour))
	if err := s.Move(ctx, id, store.Moved{To: newID(), Sealed: sealed()}, now.Add(time.Minute), rec.Version); err != nil {
		t.Fatalf("Move before its deadline: %v", err)
	}
	if rec := mustLoad(t, s, id); rec.Moved == nil {
		t.Error("Move before its deadline left no tombstone")
	}
}

// A write whose deadline has passed by the store's clock does not apply,
// though the caller's (real) clock has not reached it: its caller gave up on
// it and answered 503, and it must not land later over a newer write. Only
// an injected clock can be moved past a deadline the real clock has not
// reached, so without WithClock this subtest is skipped.
func testLateWrites(t *testing.T, e *env) {
	if !e.fake() {
		t.Skip("needs storetest.WithClock: only an injected clock can pass a deadline the real clock has not reached")
	}
	s := e.store(t)
	deadline := e.aheadOfBoth(time.Minute)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	e.cfg.advance(deadline.Sub(e.now()) + time.Second)

	id, user := newID(), newUser()
	before := cloneRecord(e.create(t, s, id, user, vals("a", "1")))
	now := e.now()
	late := []struct {
		name string
		call func() error
	}{
		{"Commit(update)", func() error {
			c := e.change(store.Update)
			c.Set, c.Clear, c.SetUserID, c.UserID = vals("b", "2"), true, true, newUser()
			_, err := s.Commit(ctx, id, c)
			return err
		}},
		{"Touch", func() error { return s.Touch(ctx, id, now, now.Add(24*time.Hour)) }},
		{"Move", func() error {
			return s.Move(ctx, id, store.Moved{To: newID(), Sealed: sealed()}, now.Add(time.Minute), before.Version)
		}},
	}
	for _, w := range late {
		if err := w.call(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s after its deadline by the store's clock: error %v, want one matching context.DeadlineExceeded", w.name, err)
		}
		wantSameRecord(t, "record after a late "+w.name, mustLoad(t, s, id), before)
	}
	wantUserSessions(t, e, s, user, id)

	fresh := newID()
	c := e.change(store.Create)
	c.Set = vals("a", "1")
	if _, err := s.Commit(ctx, fresh, c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Commit(create) after its deadline by the store's clock: error %v, want one matching context.DeadlineExceeded", err)
	}
	wantMissing(t, s, fresh, "after a late Create")
	if ctx.Err() != nil {
		t.Fatalf("storetest: the real clock reached the deadline during the subtest (%v): the checks above prove nothing", ctx.Err())
	}
}
