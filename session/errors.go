package session

import (
	"errors"
	"fmt"
)

var (
	// ErrDetached is returned when saving a session that no Manager loaded:
	// the one [From] returns outside the middleware. [Session.Err] reports it
	// too, as soon as such a session is used.
	ErrDetached = errors.New("session: no manager (is the middleware installed?)")

	// ErrInvalidKey is matched by the [*KeyError] that Set or Delete record
	// for an empty key, a key that is not valid UTF-8, contains NUL, is
	// longer than 256 bytes, or starts with the reserved prefix "__tether.".
	// The request's commit then fails with it.
	ErrInvalidKey = errors.New("session: invalid key")

	// ErrInvalidUserID is matched by the [*UserIDError] that SetUserID
	// records for a user id that is not valid UTF-8, contains a control
	// character (NUL included), or is longer than [MaxUserIDLen] bytes. The
	// request's commit then fails with it, before anything is written: it is
	// the application's fault, not the store's, so the middleware answers
	// 500, not 503 with Retry-After.
	ErrInvalidUserID = errors.New("session: invalid user id")

	// ErrInvalidAttr is matched by the [*AttrError] that SetAttrs records
	// for a set of attributes it refuses. The request's commit then fails
	// with it, before anything is written.
	ErrInvalidAttr = errors.New("session: invalid attribute")

	// ErrUnknownSession is returned by DestroySession for an ID that is not
	// a live session of the given user.
	ErrUnknownSession = errors.New("session: no such session")

	// ErrClosed is returned by a Manager's methods after Close. The
	// middleware answers it like a store outage (503 with Retry-After): a
	// request in flight while its replica shuts down may be retried against
	// another.
	ErrClosed = errors.New("session: manager closed")
)

// StoreError is a failure of the session store: the session could not be
// loaded or saved. It is never read as "no session"; the middleware turns it
// into the error response (503 by default).
type StoreError struct {
	Op  string // "load", "commit", "touch", "rotate", "destroy", ...
	Err error
}

func (e *StoreError) Error() string { return fmt.Sprintf("session: store %s: %v", e.Op, e.Err) }

func (e *StoreError) Unwrap() error { return e.Err }

// EncodeError is a value the codec could not encode. The request's commit
// fails with it.
type EncodeError struct {
	Key string
	Err error
}

func (e *EncodeError) Error() string { return fmt.Sprintf("session: encode %q: %v", e.Key, e.Err) }

func (e *EncodeError) Unwrap() error { return e.Err }

// KeyError is a key Set or Delete refused. It matches [ErrInvalidKey].
type KeyError struct {
	Key    string // the key as given, quoted when printed
	Reason string // "empty", "longer than 256 bytes", "reserved prefix \"__tether.\"", ...
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("session: invalid key %.64q: %s", e.Key, e.Reason)
}

func (e *KeyError) Is(target error) bool { return target == ErrInvalidKey }

// UserIDError is a user id SetUserID refused. It matches [ErrInvalidUserID].
// It does not carry the id itself, which may be personal data or hostile
// bytes that should not reach a log.
type UserIDError struct {
	Len    int    // the id's length in bytes
	Reason string // "not valid UTF-8", "control character at byte 3", "longer than 256 bytes"
}

func (e *UserIDError) Error() string {
	return fmt.Sprintf("session: invalid user id (%d bytes): %s", e.Len, e.Reason)
}

func (e *UserIDError) Is(target error) bool { return target == ErrInvalidUserID }

// AttrError is a set of attributes SetAttrs refused. It matches
// [ErrInvalidAttr].
type AttrError struct {
	Key    string // the refused name, or "" if the set as a whole was refused
	Reason string // "empty", "longer than 32 bytes", "9 attributes, more than 8", ...
}

func (e *AttrError) Error() string {
	if e.Key == "" && e.Reason != "empty" {
		return "session: invalid attributes: " + e.Reason
	}
	return fmt.Sprintf("session: invalid attribute name %.64q: %s", e.Key, e.Reason)
}

func (e *AttrError) Is(target error) bool { return target == ErrInvalidAttr }
