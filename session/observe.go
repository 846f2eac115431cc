package session

import (
	"context"
	"errors"
	"time"

	"github.com/tether-go/tether/store"
)

// An Observer is told what a Manager does, for metrics, tracing and audits:
// every store call, with its outcome and latency, and the events in a
// session's life. Package metrics/prometheus has one.
//
// The data structs may grow fields; implementations should not construct
// them. Methods run on the request path: they must be safe for concurrent use
// and return quickly. No token ever reaches an Observer; IDs are hashes.
type Observer interface {
	// StoreStart is called before a store call. The context it returns is
	// the one the store call and StoreEnd receive, so a tracer can start a
	// span here and end it in StoreEnd.
	StoreStart(ctx context.Context, d StoreStartData) context.Context

	// StoreEnd is called after the store call StoreStart announced.
	StoreEnd(ctx context.Context, d StoreEndData)

	// Event reports something that happened to a session.
	Event(ctx context.Context, d EventData)
}

// WithObserver adds an Observer. Given more than once, every observer is
// told everything, in the order they were given (metrics and tracing
// together).
//
// Default: none. Without one, the Manager does no observation work at all.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("session: WithObserver(nil)")
		}
		switch prev := c.observer.(type) {
		case nil:
			c.observer = o
		case observers:
			c.observer = append(prev, o)
		default:
			c.observer = observers{prev, o}
		}
		return nil
	}
}

// observers fans out to several observers.
type observers []Observer

func (os observers) StoreStart(ctx context.Context, d StoreStartData) context.Context {
	for _, o := range os {
		ctx = o.StoreStart(ctx, d)
	}
	return ctx
}

func (os observers) StoreEnd(ctx context.Context, d StoreEndData) {
	for _, o := range os {
		o.StoreEnd(ctx, d)
	}
}

func (os observers) Event(ctx context.Context, d EventData) {
	for _, o := range os {
		o.Event(ctx, d)
	}
}

// Op names a store call.
type Op uint8

const (
	OpLoad Op = iota + 1
	OpCommit
	OpTouch
	OpMove
	OpDelete
	OpUserSessions
	OpDeleteUser
)

var opNames = [...]string{"", "load", "commit", "touch", "move", "delete", "user_sessions", "delete_user"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "unknown"
}

// StoreStartData describes a store call about to be made.
type StoreStartData struct {
	Op Op
}

// StoreEndData describes a finished store call.
type StoreEndData struct {
	Op       Op
	Duration time.Duration

	// Err is the store's error. Outcomes the contract defines (not found,
	// exists, conflict, moved) are errors too; see Outcome.
	Err error

	// Outcome sorts the call: "ok", "not_found", "conflict" (a lost race:
	// version check, compare-and-swap retries, create over an existing ID,
	// a rotated-away record), "too_large", "canceled" (the request's own
	// context ended during a load: the client went away, or the request's
	// deadline passed, as under http.TimeoutHandler; not the store's fault),
	// or "error" (a fault, a store timeout, a spent store budget).
	Outcome string

	// Load: whether a live record was found, whether a tombstone was (the
	// load of a rotated-away token, which the Manager follows with a second
	// load), and where the store answered from (a hybrid store reports local
	// or remote).
	Found  bool
	Moved  bool
	Source store.Source

	// Commit: create or update, the keys set or deleted, and the bytes of
	// the values set.
	Mode  store.Mode
	Keys  int
	Bytes int
}

// EventKind names an event in a session's life.
type EventKind uint8

const (
	// EventCreated: a new session was saved.
	EventCreated EventKind = iota + 1
	// EventRotated: the session got a new token (Periodic tells which kind).
	EventRotated
	// EventDestroyed: the session was ended by Destroy.
	EventDestroyed
	// EventExpired: a client presented the cookie of a session that had
	// ended (expired, destroyed or rotated away).
	EventExpired
	// EventInvalidCookie: a client presented a session cookie that cannot
	// hold a valid token (malformed, bad signature). Counted, never logged
	// with its value.
	EventInvalidCookie
	// EventForwarded: a request with a rotated-away token was forwarded to
	// the session's new token during the grace period.
	EventForwarded
	// EventDropped: a request's changes were not saved and the handler was
	// not told (Reason says why: the session ended while the request ran,
	// the response headers had gone out, or the change came after the
	// request ended, from a goroutine or an abandoned handler).
	EventDropped
)

var eventNames = [...]string{"", "created", "rotated", "destroyed", "expired", "invalid_cookie", "forwarded", "dropped"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// EventData describes an event.
type EventData struct {
	Kind EventKind

	// ID is the session's ID (a hash, not the token), where there is one.
	ID string

	// Periodic: for EventRotated, rotation by WithRotateEvery rather than
	// an explicit Rotate.
	Periodic bool

	// Reason: for EventDropped, why.
	Reason string
}

func (m *Manager) event(ctx context.Context, d EventData) {
	if m.obs != nil {
		m.obs.Event(ctx, d)
	}
}

// observe wraps one store call. Without an observer it is the call itself.
//
// A call cut short because the request's own context ended (the client went
// away, or the request's deadline passed, as under http.TimeoutHandler) is
// "canceled", not a fault: it is neither logged nor counted as an error, so
// it cannot set off the store-error alert while the store is fine.
func (m *Manager) observe(ctx context.Context, op Op, call func(context.Context) (StoreEndData, error)) error {
	if m.obs == nil {
		_, err := call(ctx)
		if !requestEnded(ctx, err) {
			m.logFault(op, err)
		}
		return err
	}
	start := time.Now()
	octx := m.obs.StoreStart(ctx, StoreStartData{Op: op})
	d, err := call(octx)
	d.Op, d.Duration, d.Err, d.Outcome = op, time.Since(start), err, outcome(err)
	ended := requestEnded(ctx, err)
	if ended {
		d.Outcome = "canceled"
	}
	m.obs.StoreEnd(octx, d)
	if !ended {
		m.logFault(op, err)
	}
	return err
}

func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrTooLarge):
		return "too_large"
	case isStoreOutcome(err):
		return "conflict"
	}
	return "error"
}
