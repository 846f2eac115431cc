package session

import (
	"errors"
	"fmt"
)

var (
	// ErrDetached is returned when saving a session that no Manager loaded:
	// the one [From] returns outside the middleware.
	ErrDetached = errors.New("session: no manager (is the middleware installed?)")

	// ErrInvalidKey is recorded by Set or Delete with an empty key, a key
	// that is not valid UTF-8, contains NUL, is longer than 256 bytes, or
	// starts with the reserved prefix "__tether.". The request's commit then
	// fails with it.
	ErrInvalidKey = errors.New("session: invalid key")

	// ErrUnknownSession is returned by DestroySession for an ID that is not
	// a live session of the given user.
	ErrUnknownSession = errors.New("session: no such session")

	// ErrClosed is returned by a Manager's methods after Close.
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
