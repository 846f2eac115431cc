package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// conflictingLister is a store whose UserSessions fails as redisstore's and
// memcachestore's do when a session keeps rotating faster than they follow
// it (store.ErrConflict).
type conflictingLister struct{ store.Store }

func (conflictingLister) UserSessions(context.Context, string) ([]store.Info, error) {
	return nil, fmt.Errorf("redisstore: user sessions: 1 sessions still rotating after 32 hops: %w", store.ErrConflict)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// UserSessions failing with ErrConflict is not a race outcome the Manager
// retries (as a commit's is): it is a failed call handed to the caller, and
// DestroyUser ("log out everywhere") fails on it. The Manager logs it as a
// store fault, where it logs no other contract outcome.
func TestUserSessionsConflictIsLogged(t *testing.T) {
	var buf syncBuf
	ms := memstore.New()
	t.Cleanup(func() { ms.Close() })
	m := newManager(t, session.WithStore(conflictingLister{ms}),
		session.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if _, err := m.DestroyUser(t.Context(), "kim"); err == nil {
		t.Fatal("DestroyUser succeeded with a store that cannot list the user's sessions")
	}
	if !strings.Contains(buf.String(), "store call failed") {
		t.Errorf("DestroyUser failed on UserSessions' ErrConflict, and the Manager logged nothing: %q", buf.String())
	}
}
