// Package store defines the contract between the session manager and the
// backends that keep session records: memory, Redis, Memcached, Postgres, and
// the hybrid tier that caches any of them.
//
// The package does no I/O. It holds the record and change types, the errors a
// backend returns, and the optional capability interfaces a backend may
// implement. Package [github.com/tether-go/tether/store/storetest] checks that a
// backend keeps this contract; every backend, ours or a third party's, runs it.
//
// # Identifiers
//
// A store never sees a session token. The session manager hands it an ID, the
// lowercase hex SHA-256 of the token (64 bytes, [0-9a-f]), so that a dump of the
// store yields no usable cookie. Stores may rely on that shape for key building
// but must not panic on any other string.
//
// # Values
//
// A record's values ([Values]) map keys to already-encoded bytes, packed in
// key order into one string, so that a store keeping sessions in the Go heap
// holds one object per session's values rather than a map. Keys are
// non-empty valid UTF-8 without NUL bytes and at most [MaxKeyLen] bytes; the
// session manager enforces this, so a store may assume it. Keys may otherwise
// contain any character, including ':', '{', '}', quotes, '%' and spaces, and a
// store must keep them apart exactly.
//
// # Atomic deltas
//
// Requests of one session run concurrently, so a commit carries only what its
// request changed ([Change]): keys set, keys deleted, the user id, the expiry.
// A store applies a change atomically to the stored record — a Lua script, a
// compare-and-swap loop, one SQL statement or a locked transaction — and never
// overwrites the whole record with a stale copy. Two commits that change
// different keys both survive; on the same key the later one wins.
//
// # No resurrection
//
// An update-only commit ([Update]) never creates a record. A session that was
// destroyed, expired or rotated away stays gone, whatever requests were in
// flight when it went: they get [ErrNotFound] or a [*MovedError].
//
// # Rotation and tombstones
//
// Rotating a session moves its data to a new ID and, with [Store.Move], turns
// the old ID into a tombstone for a grace period. The tombstone names the new ID
// and carries an opaque sealed blob (the new token encrypted under a key derived
// from the old token, which only a holder of the old cookie can open). Loading a
// tombstone returns a [Record] whose Moved field is set; an update-only commit
// on a tombstone fails with [*MovedError], and the session manager re-applies
// the change to the new ID. Following a tombstone is the manager's job, not the
// store's: the old and new IDs may live on different servers or hash slots.
//
// A tombstone with no sealed blob forwards nothing: a login's rotation, after
// which the old token must lead nowhere. It still names the new ID, so that a
// Move resent after its reply was lost recognises its own tombstone and
// succeeds, and so that a revocation by ID can follow the session.
//
// # Late and repeated writes
//
// A write whose caller's deadline has passed does not apply: Commit, Touch and
// Move compare the context's deadline with the store's clock inside the atomic
// step. Every write is safe to run twice, because client libraries resend a
// command whose reply was lost; see [Store].
//
// # Size
//
// Every backend refuses a record whose [Record.Size] would exceed its limit,
// [DefaultMaxRecordSize] unless configured, with a [*TooLargeError], whatever
// its own encoding adds: a session that fits one backend fits all of them.
//
// # Expiry
//
// Each record carries an absolute expiry time. Once it has passed, Load reports
// the record as missing and commits treat it as missing, even if the backend has
// not physically removed it yet. Backends should hand the deadline to their
// native expiry (PEXPIREAT, memcached's absolute exptime, an indexed column
// swept by a reaper) so that storage is reclaimed.
//
// # User index
//
// A record may name a user id. [Store.UserSessions] lists the live sessions of a
// user and [Store.DeleteUser] deletes them all ("log out everywhere"). Index
// entries of sessions that expired or were deleted are cleaned lazily.
//
// # Optional capabilities
//
// A backend may implement one-method interfaces beyond [Store]. Callers find
// them with a type assertion; each interface's documentation says what happens
// when a backend lacks it.
//
//   - [Notifier]: broadcasts changes, so a cache in front of the store can evict
//     entries another node changed (Redis pub/sub, Postgres NOTIFY).
//   - [Versioner]: answers the current version of a record cheaply, so a cache
//     can revalidate an entry without loading it (Memcached).
//   - [Pinger]: reports whether the backend is reachable, for health checks.
//   - io.Closer: releases what the store started. The session manager closes a
//     store only if it created it (the default memory store).
//
// # Errors
//
// A missing record is not an error: Load returns a nil record. Errors are
// system faults (network, timeout, server refused) or these typed outcomes:
// [ErrNotFound] for an update of a missing record, [ErrExists] for
// a create over an existing one, [ErrConflict] when a conditional write lost a
// race, [ErrTooLarge] when a record would exceed the backend's limit, and
// [ErrUnsupported] for an operation a backend cannot do. A store error is never
// to be read as "no session".
package store
