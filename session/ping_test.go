package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// unreachable is a store whose backend does not answer.
type unreachable struct{ store.Store }

var errUnreachable = errors.New("test: connection refused")

func (unreachable) Ping(context.Context) error { return errUnreachable }

func TestPing(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	up, err := session.New(session.WithStore(mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Ping(t.Context()); err != nil {
		t.Errorf("memory store: %v", err)
	}
	down, err := session.New(session.WithStore(unreachable{mem}))
	if err != nil {
		t.Fatal(err)
	}
	var se *session.StoreError
	if err := down.Ping(t.Context()); !errors.As(err, &se) || !errors.Is(err, errUnreachable) {
		t.Errorf("unreachable store: %v, want a *StoreError wrapping the store's error", err)
	}
	up.Close()
	if err := up.Ping(t.Context()); !errors.Is(err, session.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
