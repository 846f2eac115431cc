package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	// since is the time elapsed since a reading of wall: time.Since reads
	// only the monotonic clock, for half of what a time.Now costs.
	since func(time.Time) time.Duration
	// watch closes the Done channels of store calls that waited on them.
	watch callWatch

	faultLog   [len(opNames)]limiter
	droppedLog limiter
	restartLog limiter
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
		cookie: newCookieCodec(cfg.cookie.Name, cfg.keys, max(cfg.lifetime, cfg.rememberLifetime)),
		log:    cfg.logger,
		obs:    cfg.observer,
		wall:   time.Now,
		since:  time.Since,
	}
	cfg.warn(m.log)
	return m, nil
}

// Close releases what New started: the default memory store, if the Manager
// created it. A store passed with [WithStore] is the caller's to close.
//
// While store calls are in flight that wait on their context (a Redis,
// SQL or Mongo driver does), the Manager runs one goroutine that ends them
// at their deadline; it stops by itself within milliseconds of the last
// such call, with or without Close.
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
// response headers go out, [Session.CommitLate] once the handler has
// returned if the headers went out first (a streamed page that read its
// flashes or asked for a CSRF token after them), and [Session.End] last.
// End reports a change that no commit saved.
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

// TokenHeader returns the canonical name of the header that carries the
// token for header clients ([WithTokenHeader]), or "" if there is none, for
// adapters that must recognise a response carrying a token.
func (m *Manager) TokenHeader() string { return m.cfg.tokenHeader }

// Info describes one session of a user, for "your devices" pages and audits.
type Info struct {
	// ID identifies the session to DestroySession and matches [Session.ID].
	// It is not the token and cannot be used as a cookie.
	ID       string
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	// Attrs are the session's attributes ([Session.SetAttrs]), nil if it
	// has none. The caller may keep and change the map.
	Attrs map[string]string
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
	return m.userSessions(withBudget(ctx), userID)
}

func (m *Manager) userSessions(ctx context.Context, userID string) ([]Info, error) {
	infos, err := m.callUserSessions(ctx, userID)
	if err != nil {
		return nil, &StoreError{Op: "user sessions", Err: err}
	}
	now := m.cfg.now()
	out := make([]Info, 0, len(infos))
	for _, in := range infos {
		if !now.Before(in.Expires) {
			continue
		}
		out = append(out, Info{ID: in.ID, Created: in.Created, LastSeen: in.LastSeen, Expires: in.Expires, Attrs: maps.Clone(in.Attrs)})
	}
	return out, nil
}

// maxDestroyUserPasses bounds DestroyUser's passes; see there.
const maxDestroyUserPasses = 4

// DestroyUser ends every session of userID ("log out everywhere") and
// returns how many there were, counted as the store's live records: a
// session rotating at that moment can count twice (its record and the new
// one its rotation created but had not moved to yet, which the rotation
// then discards), so the count can exceed the devices logged out by the
// rotations under way. Each session ends as a logout ends it: the store
// keeps a tombstone that forwards nothing until the session would have
// expired, so a request of it already in flight drops its changes; it
// cannot bring the session back, nor start a new one with them.
//
// A session rotating while the index is read can escape one pass (its new
// record was indexed after the read), so DestroyUser repeats until the user
// has no session left, and fails loudly if sessions keep appearing (a login
// of that user running at the same moment can be one). The store contract
// ([store.Store.DeleteUser]) makes an empty listing after a pass final: a
// session that rotated during the pass and again during the listing is not
// left logged in. Its store calls share
// one store budget ([WithStoreBudget]), as do DestroySession's.
func (m *Manager) DestroyUser(ctx context.Context, userID string) (int, error) {
	if m.closed.Load() {
		return 0, ErrClosed
	}
	if checkUserID(userID) != nil {
		return 0, nil // no session can be indexed under it
	}
	ctx = withBudget(ctx)
	total := 0
	for range maxDestroyUserPasses {
		n, err := m.callDeleteUser(ctx, userID)
		total += n
		if err != nil {
			return total, &StoreError{Op: "destroy user", Err: err}
		}
		infos, err := m.userSessions(ctx, userID)
		if err != nil {
			return total, err
		}
		if len(infos) == 0 {
			return total, nil
		}
	}
	return total, &StoreError{Op: "destroy user", Err: fmt.Errorf("sessions of the user kept appearing: %w", store.ErrConflict)}
}

// DestroySession ends one session of userID, by the ID [Manager.UserSessions]
// reported: for revoking a device. If the session rotated since it was
// listed, the revocation follows it, ending it only while it is still that
// user's. It returns [ErrUnknownSession] if it found no live session of that
// user under the ID, so an ID taken from a form cannot end another user's
// session.
func (m *Manager) DestroySession(ctx context.Context, userID, id string) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if !validID(id) || userID == "" {
		return ErrUnknownSession
	}
	ok, err := m.kill(withBudget(ctx), ended{id: id, userID: userID}, 0)
	if err != nil {
		return &StoreError{Op: "destroy", Err: err}
	}
	if !ok {
		return ErrUnknownSession
	}
	return nil
}

func isStoreOutcome(err error) bool {
	_, moved := store.IsMoved(err)
	return moved || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict)
}
