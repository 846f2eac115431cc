package middleware_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
	"go.uber.org/goleak"
)

// slowDone is a store whose reads and writes wait on the call's Done (as a
// pooled driver does) for up to a few milliseconds before answering.
type slowDone struct{ store.Store }

func (s slowDone) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(rand.IntN(4)) * time.Millisecond):
		return nil
	}
}

func (s slowDone) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Store.Load(ctx, id)
}

func (s slowDone) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	if err := s.wait(ctx); err != nil {
		return store.Result{}, err
	}
	return s.Store.Commit(ctx, id, c)
}

// Many requests of one Manager whose clients go away
// at random moments while their store calls wait on Done: every request
// ends promptly, nothing panics (Done closed twice) or races, and nothing is
// left running after Close (goleak).
func TestClientsGoneWhileStoreCallsWait(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	m, err := session.New(session.WithStore(slowDone{mem}), session.WithStoreTimeout(time.Second),
		session.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	seed := &client{e: &env{t: t, h: wrap(&env{m: m}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set("n", "0")
	}))}}
	seed.do("POST", "/")
	h := wrap(&env{m: m}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		_, _ = session.Get[string](s, "n")
		s.Set(r.URL.Query().Get("k"), "v")
	}))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(time.Duration(rand.IntN(3000))*time.Microsecond, cancel)
			req := httptest.NewRequestWithContext(ctx, "POST", "/?k=k"+string(rune('a'+i%26)), nil)
			req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: seed.cookie})
			done := make(chan struct{})
			go func() { h.ServeHTTP(httptest.NewRecorder(), req); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Error("request did not end")
			}
			cancel()
		})
	}
	wg.Wait()
	m.Close()
	mem.Close()
	goleak.VerifyNone(t)
}
