package store

import (
	"errors"
	"fmt"
)

// Outcomes a store reports with these errors are part of the contract; match
// them with errors.Is (or errors.As for [*MovedError] and [*TooLargeError]).
var (
	// ErrNotFound: an update-only write found no live record. For Load a
	// missing record is not an error.
	ErrNotFound = errors.New("store: record not found")

	// ErrExists: a create-only commit found the ID in use.
	ErrExists = errors.New("store: record already exists")

	// ErrConflict: a conditional write lost a race (a version check failed, or
	// a compare-and-swap loop ran out of retries). Nothing was written.
	ErrConflict = errors.New("store: conflicting write")

	// ErrTooLarge: the record would exceed the backend's size limit. Nothing
	// was written.
	ErrTooLarge = errors.New("store: record too large")

	// ErrUnsupported: the backend cannot do the requested operation.
	ErrUnsupported = errors.New("store: operation not supported")
)

// MovedError reports that an update-only write hit a tombstone: the session
// was rotated, and the write belongs to the record Moved.To.
type MovedError struct {
	Moved Moved
}

func (e *MovedError) Error() string {
	return "store: record moved by rotation"
}

// TooLargeError reports the size that was refused and the backend's limit. It
// matches ErrTooLarge.
type TooLargeError struct {
	Size, Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("store: record too large: %d bytes, limit %d", e.Size, e.Limit)
}

// Is makes a *TooLargeError match ErrTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// IsMoved reports whether err is (or wraps) a *MovedError, and returns it.
func IsMoved(err error) (*MovedError, bool) {
	var me *MovedError
	ok := errors.As(err, &me)
	return me, ok
}
