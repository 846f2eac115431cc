package session_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

// A Commit that left nothing to do settles the session: the middleware's
// CommitLate after a handler that only read returns at once, without reading
// the clock (two or three clock reads, a change to build and a touch to judge
// were a tenth of what Tether adds to a memory-store read).
func TestCommitLateAfterSettledCommitIsFree(t *testing.T) {
	var reads atomic.Int64
	m := newManager(t, session.WithClock(func() time.Time { reads.Add(1); return time.Now() }))
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
	if _, err := commit(t, s); err != nil {
		t.Fatal(err)
	}
	before := reads.Load()
	if err := s.CommitLate(); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load() - before; n != 0 {
		t.Errorf("CommitLate after a commit that left nothing read the clock %d times, want 0", n)
	}
}

// What a handler does after the commit that settled its session unsettles
// it: CommitLate saves a change, ends a destroyed session, and refuses a
// login, as without the early commit.
func TestCommitLateAfterSettledCommitSavesLaterUse(t *testing.T) {
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
		if _, err := commit(t, s); err != nil { // settles it
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
			t.Errorf("a change after the settling commit: %v, %v; want 1, true", v, ok)
		}
	})
	t.Run("Destroy", func(t *testing.T) {
		s, next := start(t)
		s.Destroy()
		if err := s.CommitLate(); err != nil {
			t.Fatal(err)
		}
		if _, ok := session.Get[string](next(), "k"); ok {
			t.Error("session destroyed after the settling commit is still live")
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
	t.Run("failed commit is not settled", func(t *testing.T) {
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
