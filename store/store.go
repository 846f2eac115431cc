package store

import (
	"context"
	"slices"
	"time"
)

// MaxKeyLen is the longest value key, in bytes, that the session manager hands
// to a store.
const MaxKeyLen = 256

// DefaultMaxRecordSize is every backend's default per-record limit: the bytes
// of a record's value keys, values and user id, as [Record.Size] counts them.
// A commit whose resulting record would be larger is refused with a
// [*TooLargeError] and changes nothing. Backends make it configurable, and
// refuse the same sizes whatever their encoding (base64, BSON, an item
// header) costs them on top.
const DefaultMaxRecordSize = 1 << 20 // 1 MiB

// Store keeps session records. Implementations must be safe for concurrent use
// by multiple goroutines and processes: every method may race with every other,
// on this node and on others.
//
// Every method takes a context that carries the caller's deadline; a store must
// return promptly (with the context's error, wrapped or not) once it is done.
//
// Writes that arrive late must not apply. Commit, Touch and Move compare the
// context's deadline with the store's own clock inside the atomic step that
// applies them (Redis TIME in the script, Postgres clock_timestamp() in the
// statement, the process clock in memory): a write whose deadline has passed
// there changes nothing and returns an error matching
// [context.DeadlineExceeded]. So a write its caller gave up on (and answered
// 503 for) cannot land seconds later, after a stalled link thaws, over a newer
// one. A backend that has no clock inside its atomic step (Memcached) checks
// before sending and documents the window that remains.
//
// Every write must be safe to run twice: clients resend a command whose reply
// was lost. Commit with Update re-applies the same delta (idempotent while no
// other write came between); Move recognises its own earlier effect (see
// there); Delete of a missing record succeeds; Create reports [ErrExists] to
// the resend, which the session manager, who alone knows the fresh ID,
// recognises as its own.
type Store interface {
	// Load returns the record stored under id, or (nil, nil) if there is none
	// or it has expired. A tombstone is returned as a record whose Moved field
	// is set. The caller must not modify the returned record: a caching store
	// may hand the same record to several callers.
	Load(ctx context.Context, id string) (*Record, error)

	// Commit applies c atomically to the record under id and returns the
	// record's new version.
	//
	// With c.Mode == Create the record must not exist (or must have expired):
	// otherwise Commit returns ErrExists and changes nothing.
	//
	// With c.Mode == Update the record must exist and not be a tombstone:
	// Commit returns ErrNotFound for a missing or expired record and a
	// *MovedError for a tombstone, and changes nothing in either case.
	//
	// A record that would exceed the backend's size limit is refused with an
	// error matching ErrTooLarge, and the stored record is left as it was.
	// Commit must not retain c or anything it refers to.
	Commit(ctx context.Context, id string, c Change) (Result, error)

	// Touch sets the record's last-seen time and expiry without touching its
	// values: the cheap write that extends an idle session. It returns
	// ErrNotFound for a missing or expired record and a *MovedError for a
	// tombstone. Touch changes the record's version.
	Touch(ctx context.Context, id string, lastSeen, expires time.Time) error

	// Move turns the record under id into a tombstone that forwards to m.To
	// until expires. It succeeds only if the record exists, is not a
	// tombstone, and its version is ifVersion: otherwise it returns
	// ErrNotFound, a *MovedError, or ErrConflict respectively, and changes
	// nothing. An ifVersion of 0 (no record has it: Create makes version 1)
	// accepts any version: the session manager ends a session that
	// concurrent writes keep changing that way, since ending it needs no
	// consistent copy of its values. The tombstone keeps no values and no user id (it leaves the
	// user index), keeps Created, and gets a higher version.
	//
	// A Move that finds a live tombstone whose Moved.To is m.To returns nil
	// and changes nothing: it is the same Move run again after its reply was
	// lost (m.To is a fresh random ID, so no other Move names it).
	//
	// m.Sealed may be empty: such a tombstone forwards nothing (see
	// [Moved]). A Move whose expires has already passed succeeds and leaves
	// nothing loadable.
	Move(ctx context.Context, id string, m Moved, expires time.Time, ifVersion uint64) error

	// Delete removes the record (or tombstone) under id and its user index
	// entry. Deleting a missing record is not an error.
	Delete(ctx context.Context, id string) error

	// UserSessions returns the live records indexed under userID, without
	// their values, in no particular order. Entries whose record expired or
	// was deleted are not returned and may be removed from the index as a side
	// effect. A user with no sessions is not an error.
	UserSessions(ctx context.Context, userID string) ([]Info, error)

	// DeleteUser ends every live record indexed under userID, removes the
	// index, and returns how many live records it ended.
	//
	// It ends a record as a logout does: the record becomes a tombstone that
	// forwards nothing (Moved{To: its own ID}, no Sealed), with no values,
	// user id or attributes, a version above the record's, and the record's
	// Expires; it is listed under no user, and a later DeleteUser leaves it
	// alone. A request in flight with the session's token then finds its
	// session ended (a *MovedError) and drops its changes; a missing record
	// would instead read as expired, and a request that only writes would
	// save its changes in a new session. Tombstones and expired records
	// indexed under userID may be deleted or kept.
	//
	// A session rotates by creating its new record, then moving the old one
	// to it. One rotating while DeleteUser runs may escape it only as far
	// as the next UserSessions lists it: once DeleteUser has returned and a
	// UserSessions lists nothing, no session the user had when DeleteUser
	// began may be live. A DeleteUser that is one atomic step (Redis's
	// script, memstore's locks), or a UserSessions that reads one snapshot
	// (SQL), gives this; session.Manager.DestroyUser relies on it, and
	// storetest's Users/DeleteUserDuringRotations checks it.
	//
	// The empty user id indexes nothing: UserSessions("") returns no records
	// and DeleteUser("") deletes none.
	DeleteUser(ctx context.Context, userID string) (int, error)
}

// Record is a session as stored.
type Record struct {
	// Values are the session's keys and their encoded values. Empty for a
	// tombstone.
	Values Values

	// UserID is the user the session is indexed under, or "".
	UserID string

	// Created is when the session began. Rotation carries it over, so the
	// session's absolute lifetime is counted from here.
	Created time.Time

	// LastSeen is the last activity the store was told of.
	LastSeen time.Time

	// Expires is when the record stops existing: for a session, the earlier
	// of its idle and absolute deadlines; for a tombstone, the end of the
	// grace period.
	Expires time.Time

	// Version increases with every successful write to the record (Commit,
	// Touch, Move: a tombstone's version is above the record's), by one or,
	// in a store that says so in [Result.Prior], by more. Create makes
	// version 1, also when it reuses an ID whose record was deleted or
	// expired. Caches use it to order writes.
	Version uint64

	// Moved is non-nil if the record is a tombstone left by a rotation.
	Moved *Moved

	// Attrs are the session's attributes: a few short strings the
	// application attached to it (a device label, a user agent, an address)
	// that UserSessions returns without loading values. Nil or empty if
	// none; a tombstone has none. The session layer bounds their number and
	// length; stores keep any valid UTF-8 keys and values as they are
	// (including "$", "." and quotes in keys) and count them in Size.
	Attrs map[string]string
}

// Moved is where a rotated-away session went.
//
// A tombstone with an empty Sealed forwards nothing: the session ended at this
// ID (a login's rotation, which must not hand the new token to whoever holds
// the old one; a destroy). To still names the new ID, so a resent Move
// recognises its own effect and a revocation can follow the session, but no
// token can be derived from it. Stores keep such a tombstone like any other.
type Moved struct {
	// To is the ID of the session's new record.
	To string

	// Sealed is the new token, sealed by the session manager under a key only
	// the old token's holder can derive. The store keeps it as opaque bytes.
	// Empty: the tombstone forwards nothing.
	Sealed []byte
}

// Forwards reports whether the tombstone can hand its holder a new token.
func (m *Moved) Forwards() bool { return len(m.Sealed) > 0 }

// Info describes a live session of a user, without its values.
type Info struct {
	ID       string
	UserID   string
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
	// Attrs are the record's attributes (see [Record.Attrs]), nil or empty
	// if it has none.
	Attrs map[string]string
}

// Mode says whether a commit may create a record or only update one.
type Mode uint8

const (
	// Update applies the change to an existing, live, non-tombstone record.
	Update Mode = iota
	// Create makes a new record; the ID must not be in use.
	Create
)

func (m Mode) String() string {
	switch m {
	case Update:
		return "update"
	case Create:
		return "create"
	}
	return "mode(?)"
}

// Change is what one request did to a session: the delta a commit applies.
//
// The order of application is: Clear, then Delete, then Set. A key that is in
// both Delete and Set ends up set.
type Change struct {
	Mode Mode

	// Created is the session's start time. Used by Create; ignored by Update.
	Created time.Time

	// Clear removes every stored value before Delete and Set apply.
	Clear bool

	// Delete lists keys to remove. Missing keys are ignored.
	Delete []string

	// Set maps keys to their new encoded values.
	Set map[string][]byte

	// SetUserID makes the commit set the record's user id to UserID ("" to
	// unindex) and move the record between user indexes accordingly. Create
	// always sets UserID.
	SetUserID bool
	UserID    string

	// SetAttrs makes the commit replace the record's attributes with Attrs
	// (nil or empty removes them all). Attributes are replaced whole, not
	// merged: they are written rarely (at login, on a label change) and a
	// whole set is bounded as its parts are. Create always sets Attrs. The
	// store must not retain the map.
	SetAttrs bool
	Attrs    map[string]string

	// LiveAt, if set, is the caller's present. An Update then also fails
	// with ErrNotFound, changing nothing, if the record's expiry is not
	// after LiveAt: the store's clock judges liveness as always, and the
	// caller's clock too, so that a write its caller's next read would find
	// expired (its clock runs ahead of the store's) is refused, and the
	// caller can save it elsewhere, rather than applied to a record nobody
	// will read. Create and Move ignore it.
	LiveAt time.Time

	// LastSeen and Expires replace the record's. Create always sets both; a
	// Create whose Expires has already passed succeeds and leaves nothing
	// loadable. An Update may leave either zero to keep the stored one: a
	// request that only sets values never loaded the record and cannot
	// compute its deadline.
	LastSeen time.Time
	Expires  time.Time

	// Base, if set, is the record as the caller last saw it under this
	// same ID: what it loaded, with every change it committed since
	// applied. A store may use it to write the record computed from it,
	// without reading the stored one first, but only after checking in the
	// same atomic step that what is stored is the Base, all of it: a
	// version alone does not say so, since a store that loses writes it
	// acknowledged (a Redis failover) gives the next write a lost write's
	// version again. A store may ignore Base, and must behave exactly as
	// without it: a Base that is not the stored record is no error. The
	// caller must not modify it.
	Base *Record
}

// Result is the outcome of a successful Commit.
type Result struct {
	// Version is the record's version after the commit.
	Version uint64

	// Prior is the version of the record the commit applied to; 0 for a
	// Create, and 0 from a store that leaves it to [Result.Before]: one
	// whose versions go up by exactly one. A store that may lose writes
	// it acknowledged (Redis, across a failover) must not let a version
	// repeat for other contents, or a caller that loaded the lost write
	// takes the next one for it; such a store steps its versions by a
	// random amount and says here what it applied to.
	Prior uint64
}

// Before returns the version of the record the commit applied to: Prior if
// the store set it, else Version-1. A caller that holds the record at that
// version knows it and its change are what is stored now; at any other
// version another write came in between.
func (r Result) Before() uint64 {
	if r.Prior != 0 {
		return r.Prior
	}
	return r.Version - 1
}

// Empty reports whether c changes no values, no user id and no attributes.
func (c *Change) Empty() bool {
	return !c.Clear && len(c.Delete) == 0 && len(c.Set) == 0 && !c.SetUserID && !c.SetAttrs
}

// Apply returns values with c's value changes applied in the documented
// order. Backends that merge in Go (memory, compare-and-swap loops) share it
// so that the order is the same everywhere. The result owns its bytes: it
// keeps no reference to c.
func (c *Change) Apply(values Values) Values {
	var b ValuesBuilder
	if !c.Clear {
		deleted := c.deleted()
		for k, v := range values.All() {
			if _, set := c.Set[k]; set || deleted(k) {
				continue
			}
			b.Add(k, v)
		}
	}
	for k, v := range c.Set {
		b.Add(k, v)
	}
	return b.Values()
}

// deleted returns a test for membership in c.Delete: a scan for the few
// keys a request usually deletes, a set for many.
func (c *Change) deleted() func(string) bool {
	if len(c.Delete) <= 8 {
		return func(k string) bool { return slices.Contains(c.Delete, k) }
	}
	set := make(map[string]struct{}, len(c.Delete))
	for _, k := range c.Delete {
		set[k] = struct{}{}
	}
	return func(k string) bool { _, ok := set[k]; return ok }
}

// Size is the approximate number of bytes the record's keys, values,
// attributes and user id take, which backends use for size limits and caches
// for accounting.
func (r *Record) Size() int {
	n := len(r.UserID) + r.Values.Size()
	for k, v := range r.Attrs {
		n += len(k) + len(v)
	}
	if r.Moved != nil {
		n += len(r.Moved.To) + len(r.Moved.Sealed)
	}
	return n
}

// Info returns the record's metadata under id.
func (r *Record) Info(id string) Info {
	return Info{ID: id, UserID: r.UserID, Created: r.Created, LastSeen: r.LastSeen, Expires: r.Expires, Attrs: r.Attrs}
}

// Ended returns the tombstone the record under id becomes when its session
// is ended in place, as Store.DeleteUser does: it forwards nothing (Moved.To
// is id, no Sealed), keeps no values, user id or attributes, keeps Created,
// LastSeen and Expires, and has the next version. For stores that build
// their records in Go.
func (r *Record) Ended(id string) *Record {
	return &Record{Created: r.Created, LastSeen: r.LastSeen, Expires: r.Expires, Version: r.Version + 1, Moved: &Moved{To: id}}
}

// Live reports whether the record has not expired at now.
func (r *Record) Live(now time.Time) bool {
	return now.Before(r.Expires)
}
