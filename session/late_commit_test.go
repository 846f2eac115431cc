package session_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// What a handler does after a commit that left nothing to do is the late
// commit's: it saves a change, ends a destroyed session, and refuses a login.
func TestCommitLateAfterCommitSavesLaterUse(t *testing.T) {
	m := newManager(t)
	start := func(t *testing.T) (*session.Session, func() *session.Session) {
		t.Helper()
		s := begin(t, m, nil)
		s.Set("k", "v")
		ck, err := commit(t, s)
		if err != nil || ck == nil {
			t.Fatalf("commit: %v, cookie %v", err, ck)
		}
		s = begin(t, m, ck)
		if v, _ := session.Get[string](s, "k"); v != "v" {
			t.Fatalf("Get = %q", v)
		}
		if _, err := commit(t, s); err != nil { // nothing to save
			t.Fatal(err)
		}
		return s, func() *session.Session { return begin(t, m, ck) }
	}

	t.Run("Set", func(t *testing.T) {
		s, next := start(t)
		s.Set("late", 1)
		if err := s.CommitLate(); err != nil {
			t.Fatal(err)
		}
		if v, ok := session.Get[int](next(), "late"); !ok || v != 1 {
			t.Errorf("a change after the early commit: %v, %v; want 1, true", v, ok)
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		s, next := start(t)
		s.Destroy()
		if err := s.CommitLate(); err != nil {
			t.Fatal(err)
		}
		if _, ok := session.Get[string](next(), "k"); ok {
			t.Error("session destroyed after the early commit is still live")
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		s, next := start(t)
		s.Rotate()
		if err := s.CommitLate(); err != nil {
			t.Fatal(err)
		}
		// A login after the headers went out is refused and its
		// session ended (refuseLateLogin).
		if _, ok := session.Get[string](next(), "k"); ok {
			t.Error("a late login left the old token's session live")
		}
	})
	t.Run("failed commit", func(t *testing.T) {
		s, next := start(t)
		s.Set("", 1) // an invalid key fails every commit of the request
		if _, err := commit(t, s); err == nil {
			t.Fatal("commit of an invalid key succeeded")
		}
		if err := s.CommitLate(); err == nil {
			t.Error("CommitLate after a failed commit returned nil; it must report the failure again")
		}
		if v, _ := session.Get[string](next(), "k"); v != "v" {
			t.Errorf("session after a failed commit: k = %q, want v", v)
		}
	})
}

// A read-only request whose response streams (SSE, a long download): the
// early Commit, when the headers went out, found no touch due; by the time
// the handler returns one is, and the late commit makes it. A shortcut that
// skipped late commits after one that saved nothing lost it (review), and a
// user active through the whole stream was logged out an idle timeout after
// the touch before it.
func TestCommitLateTouchesWhatCameDueWhileStreaming(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	m := newManager(t, session.WithClock(clock), session.WithIdleTimeout(30*time.Minute), session.WithTouchInterval(time.Minute))

	s := begin(t, m, nil)
	s.Set("k", "v")
	ck, err := commit(t, s)
	if err != nil || ck == nil {
		t.Fatalf("commit: %v %v", err, ck)
	}
	advance(30 * time.Second) // no touch due yet

	s = begin(t, m, ck)
	before, _ := s.Info()
	if _, err := commit(t, s); err != nil { // the writer's, as the headers go out
		t.Fatal(err)
	}
	advance(10 * time.Minute)              // the handler streams on
	if err := s.CommitLate(); err != nil { // the middleware's, after the handler
		t.Fatal(err)
	}
	after, _ := begin(t, m, ck).Info()
	if !after.LastSeen.After(before.LastSeen) {
		t.Errorf("the late commit 10m later did not touch: LastSeen %v -> %v", before.LastSeen, after.LastSeen)
	}
}
