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
