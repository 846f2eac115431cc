package middleware_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// probe wraps a store and runs a hook before the next call that matches it:
// to hold a request at an exact point (before a Load, a Create, a Move) or to
// make another request land there. It can also lose the reply of the next
// matching call: the call applies and the caller sees errLostReply.
type probe struct {
	store.Store
	mu    sync.Mutex
	hooks []*probeHook
}

type probeHook struct {
	op    string // "load", "create", "update", "move", "delete"
	id    string // "" for any
	skip  int    // matching calls to let through first
	f     func() // run before the call
	lose  bool   // apply the call, then report errLostReply
	fresh bool   // fail without applying: errLostReply before the call
	twice bool   // apply, then apply again (a resend) and return the second answer
}

func (p *probe) add(h *probeHook) {
	p.mu.Lock()
	p.hooks = append(p.hooks, h)
	p.mu.Unlock()
}

// hold makes the next call of op on id ("" for any) wait: started is closed
// when it arrives, and it goes on once release is closed.
func (p *probe) hold(op, id string) (started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	p.add(&probeHook{op: op, id: id, f: func() { close(started); <-release }})
	return started, release
}

// before runs f before the next call of op on id.
func (p *probe) before(op, id string, f func()) { p.add(&probeHook{op: op, id: id, f: f}) }

func (p *probe) take(op, id string) *probeHook {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, h := range p.hooks {
		if h.op != op || (h.id != "" && h.id != id) {
			continue
		}
		if h.skip > 0 {
			h.skip--
			continue
		}
		p.hooks = append(p.hooks[:i], p.hooks[i+1:]...)
		return h
	}
	return nil
}

func (p *probe) run(op, id string) (lose bool, err error) {
	lose, _, err = p.runTwice(op, id)
	return lose, err
}

func (p *probe) runTwice(op, id string) (lose, twice bool, err error) {
	h := p.take(op, id)
	if h == nil {
		return false, false, nil
	}
	if h.f != nil {
		h.f()
	}
	if h.fresh {
		return false, false, errLostReply
	}
	return h.lose, h.twice, nil
}

func (p *probe) Load(ctx context.Context, id string) (*store.Record, error) {
	if _, err := p.run("load", id); err != nil {
		return nil, err
	}
	return p.Store.Load(ctx, id)
}

func (p *probe) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	op := "update"
	if c.Mode == store.Create {
		op = "create"
	}
	lose, twice, err := p.runTwice(op, id)
	if err != nil {
		return store.Result{}, err
	}
	res, err := p.Store.Commit(ctx, id, c)
	if lose && err == nil {
		return store.Result{}, errLostReply
	}
	if twice && err == nil {
		return p.Store.Commit(ctx, id, c)
	}
	return res, err
}

func (p *probe) Move(ctx context.Context, id string, m store.Moved, exp time.Time, v uint64) error {
	lose, err := p.run("move", id)
	if err != nil {
		return err
	}
	err = p.Store.Move(ctx, id, m, exp, v)
	if lose && err == nil {
		return errLostReply
	}
	return err
}

func (p *probe) Delete(ctx context.Context, id string) error {
	lose, err := p.run("delete", id)
	if err != nil {
		return err
	}
	err = p.Store.Delete(ctx, id)
	if lose && err == nil {
		return errLostReply
	}
	return err
}

// probeEnv is an env whose manager talks to the memory store through a
// replaying store (lost replies that the client resends) and a probe. The
// store judges expiry by a clock lag behind the manager's (negative: ahead).
func probeEnv(t *testing.T, lag time.Duration, opts ...session.Option) (*env, *probe, *replaying) {
	t.Helper()
	e := newEnv(t)
	if lag != 0 {
		e.mem.Close()
		e.mem = memstore.New(memstore.WithClock(func() time.Time { return e.clock.Now().Add(-lag) }))
		t.Cleanup(func() { e.mem.Close() })
		e.store = &counting{Store: e.mem}
	}
	rs := &replaying{Store: e.store}
	p := &probe{Store: rs}
	m, err := session.New(append([]session.Option{
		session.WithStore(p), session.WithClock(e.clock.Now),
		session.WithTouchInterval(time.Minute),
		session.WithLogger(slog.New(slog.NewTextHandler(e.logs, nil))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.h = middleware.Sessions(m)(e.routes())
	return e, p, rs
}

// async runs a request in the background.
func (e *env) async(method, target, cookie string) chan resp {
	ch := make(chan resp, 1)
	go func() { ch <- e.do(method, target, cookie) }()
	return ch
}

// DeleteUser, when a "deleteuser" hook is set, opens the window that every
// non-atomic backend has (memstore: the index is copied, then each record is
// locked in turn; memcachestore: index read, multi-get, then one
// compare-and-swap per record): it reads the index, runs the hook, then
// deletes each record it read that is still a live session of the user.
func (p *probe) DeleteUser(ctx context.Context, userID string) (int, error) {
	h := p.take("deleteuser", "")
	if h == nil {
		return p.Store.DeleteUser(ctx, userID)
	}
	infos, err := p.Store.UserSessions(ctx, userID)
	if err != nil {
		return 0, err
	}
	if h.f != nil {
		h.f()
	}
	n := 0
	for _, in := range infos {
		rec, err := p.Store.Load(ctx, in.ID)
		if err != nil {
			return n, err
		}
		if rec == nil || rec.Moved != nil || rec.UserID != userID {
			continue
		}
		if err := p.Store.Delete(ctx, in.ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
