package session_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
)

type otherKey struct{}

// The context NewContext returns is the parent plus the session: values,
// deadline and cancellation of the parent pass through, every time it is
// called for a session.
func TestNewContextCarriesSessionAndParent(t *testing.T) {
	m := newManager(t)
	s := m.Begin(httptest.NewRequest("GET", "/", nil))
	deadline := time.Now().Add(time.Hour)
	parent, cancel := context.WithDeadline(context.WithValue(context.Background(), otherKey{}, "v"), deadline)
	defer cancel()
	for i := range 2 { // the first call uses the session's own carrier, the next a new value
		ctx := session.NewContext(parent, s)
		if got := session.From(ctx); got != s {
			t.Fatalf("call %d: From returned another session", i)
		}
		if ctx.Value(otherKey{}) != "v" {
			t.Errorf("call %d: parent's value lost", i)
		}
		if d, ok := ctx.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("call %d: deadline %v %v", i, d, ok)
		}
		child, stop := context.WithCancel(ctx)
		if child.Err() != nil {
			t.Errorf("call %d: canceled before the parent was", i)
		}
		if i == 1 {
			cancel()
			select {
			case <-child.Done():
			case <-time.After(time.Second):
				t.Error("the parent's cancellation did not reach a child")
			}
		}
		stop()
	}
}

// Beginning a session and attaching it to a context allocates the Session
// only: the middleware pays this on every request, used or not.
func TestBeginAndNewContextAllocateOnce(t *testing.T) {
	m := newManager(t)
	r := httptest.NewRequest("GET", "/", nil)
	ctx := r.Context()
	allocs := testing.AllocsPerRun(100, func() {
		s := m.Begin(r)
		if session.From(session.NewContext(ctx, s)) != s {
			t.Fatal("lost the session")
		}
	})
	if allocs > 1 {
		t.Errorf("%v allocations, want 1", allocs)
	}
}
