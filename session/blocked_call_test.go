package session_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// waitingStore is a store whose UserSessions waits for a free connection
// that never comes, as go-redis's pool, pgxpool or database/sql do when
// they are exhausted: on the call's Done, or on a context derived from it
// (the SQL and Mongo stores' context.WithTimeout), or through
// context.AfterFunc (pgx's context watcher).
type waitingStore struct {
	store.Store
	how string
}

func (s waitingStore) UserSessions(ctx context.Context, _ string) ([]store.Info, error) {
	switch s.how {
	case "derived":
		d, cancel := context.WithTimeout(ctx, time.Hour)
		defer cancel()
		<-d.Done()
	case "afterfunc":
		ch := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { close(ch) })
		defer stop()
		<-ch
	default:
		<-ctx.Done()
	}
	return nil, ctx.Err()
}

// A store call blocked on its context ends at its
// deadline (the store timeout), and at once when the caller's context ends
// (the client went away), however the store waits; nothing stays behind
// (TestMain's goleak).
func TestBlockedStoreCallEnds(t *testing.T) {
	for _, how := range []string{"done", "derived", "afterfunc"} {
		mem := memstore.New()
		m, err := session.New(session.WithStore(waitingStore{mem, how}), session.WithStoreTimeout(40*time.Millisecond),
			session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = m.UserSessions(context.Background(), "u")
		if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took < 40*time.Millisecond || took > 400*time.Millisecond {
			t.Errorf("%s: the deadline: %v after %v, want DeadlineExceeded after 40ms", how, err, took)
		}

		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		m2, err := session.New(session.WithStore(waitingStore{mem, how}), session.WithStoreTimeout(time.Minute),
			session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		_, err = m2.UserSessions(ctx, "u")
		if took := time.Since(start); !errors.Is(err, context.Canceled) || took > 400*time.Millisecond {
			t.Errorf("%s: the client going away: %v after %v, want Canceled after 20ms", how, err, took)
		}
		m.Close()
		m2.Close()
		mem.Close()
	}
}
