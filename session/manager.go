package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// Manager holds the configuration and the store, and begins, commits and
// administers sessions. It is safe for concurrent use; one Manager serves a
// whole application.
type Manager struct {
	cfg    config
	cookie cookieCodec
	log    *slog.Logger
	obs    Observer
	closed atomic.Bool

	// wall is the time store calls are measured and bounded by: the clock
	// context deadlines use, not the injectable clock of expiry decisions
	// (tests of the budget replace it).
	wall func() time.Time

	faultLog   [len(opNames)]limiter
	droppedLog limiter
}

// New returns a Manager configured by opts. Invalid settings are an error
// here, not a surprise at the first request.
func New(opts ...Option) (*Manager, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	cfg.resolve()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.store == nil {
		cfg.store = memstore.New()
		cfg.ownStore = true
	}
	m := &Manager{
		cfg:    cfg,
		cookie: newCookieCodec(cfg.cookie.Name, cfg.keys, cfg.lifetime),
		log:    cfg.logger,
		obs:    cfg.observer,
		wall:   time.Now,
	}
	cfg.warn(m.log)
	return m, nil
}

// Close releases what New started: the default memory store, if the Manager
// created it. A store passed with [WithStore] is the caller's to close.
func (m *Manager) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	if c, ok := m.cfg.store.(io.Closer); ok && m.cfg.ownStore {
		return c.Close()
	}
	return nil
}

// Logger returns the Manager's logger, for adapters that report on its behalf.
func (m *Manager) Logger() *slog.Logger { return m.log }

// Store returns the store the Manager uses.
func (m *Manager) Store() store.Store { return m.cfg.store }

// Begin starts the session of a request. It does no work until the session
// is used: the cookie is read then, and the store is asked only when the
// session is first read. Adapters other than package middleware call Begin, put the session in the
// request's context with [NewContext], call [Session.Commit] before the
// response headers go out, and [Session.End] once the handler has returned.
//
// The session's store calls share one store budget ([WithStoreBudget]).
func (m *Manager) Begin(r *http.Request) *Session {
	s := &Session{m: m, req: r}
	s.bctx.Context = r.Context()
	s.ctx = &s.bctx
	return s
}

// CookieName returns the session cookie's name, for adapters that must
// recognise the cookie in a response.
func (m *Manager) CookieName() string { return m.cfg.cookie.Name }

// Info describes one session of a user, for "your devices" pages and audits.
type Info struct {
	// ID identifies the session to DestroySession and matches [Session.ID].
	// It is not the token and cannot be used as a cookie.
	ID       string
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
}

// UserSessions returns the live sessions indexed under userID by
// [Session.SetUserID]. A user id SetUserID would refuse has none. Its store
// calls share one store budget ([WithStoreBudget]).
func (m *Manager) UserSessions(ctx context.Context, userID string) ([]Info, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if checkUserID(userID) != nil {
		return []Info{}, nil // no session can be indexed under it: no store round trip
	}
	infos, err := m.callUserSessions(withBudget(ctx), userID)
	if err != nil {
		return nil, &StoreError{Op: "user sessions", Err: err}
	}
	now := m.cfg.now()
	out := make([]Info, 0, len(infos))
	for _, in := range infos {
		if !now.Before(in.Expires) {
			continue
		}
		out = append(out, Info{ID: in.ID, Created: in.Created, LastSeen: in.LastSeen, Expires: in.Expires})
	}
	return out, nil
}

// maxDestroyUserPasses bounds DestroyUser's passes; see there.
const maxDestroyUserPasses = 3

// DestroyUser deletes every session of userID ("log out everywhere") and
// returns how many there were. Requests of those sessions already in flight
// cannot bring them back.
//
// A session rotating while the index is read can escape one pass (its new
// record was indexed after the read), so DestroyUser repeats until a pass
// finds nothing: a rotation that started before a pass either lands in the
// next pass's read or fails because its old record is gone.
func (m *Manager) DestroyUser(ctx context.Context, userID string) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	total := 0
	for range maxDestroyUserPasses {
		n, err := m.callDeleteUser(ctx, userID)
		total += n
		if err != nil {
			return total, &StoreError{Op: "destroy user", Err: err}
		}
		if n == 0 {
			break
		}
	}
	return total, nil
}

// DestroySession ends one session of userID, by the ID [Manager.UserSessions]
// reported: for revoking a device. It returns [ErrUnknownSession] if no live
// session of that user has that ID, so an ID taken from a form cannot end
// another user's session.
func (m *Manager) DestroySession(ctx context.Context, userID, id string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if !validID(id) || userID == "" {
		return ErrUnknownSession
	}
	rec, err := m.callLoad(ctx, id)
	if err != nil {
		return &StoreError{Op: "destroy", Err: err}
	}
	if rec == nil || rec.Moved != nil || rec.UserID != userID || !rec.Live(m.cfg.now()) {
		return ErrUnknownSession
	}
	if err := m.kill(ctx, ended{id: id}, 0); err != nil {
		return &StoreError{Op: "destroy", Err: err}
	}
	return nil
}

// deadline is when a session created at created and active at lastSeen ends.
func (m *Manager) deadline(created, lastSeen time.Time) time.Time {
	idle := lastSeen.Add(m.cfg.idle)
	abs := created.Add(m.cfg.lifetime)
	if abs.Before(idle) {
		return abs
	}
	return idle
}

func isStoreOutcome(err error) bool {
	_, moved := store.IsMoved(err)
	return moved || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict)
}
