package boltstore

import (
	"context"
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by every method of a [Store] after [Store.Close].
	ErrClosed = errors.New("boltstore: store closed")

	// ErrLocked: [Open] could not lock the file within [WithLockTimeout]
	// because another process (or another open Store in this one) has it.
	ErrLocked = errors.New("boltstore: file is locked by another process")

	// ErrInvalidID: a write named an empty ID or one longer than [MaxIDLen]
	// (the session manager's are 64 bytes). Nothing was written.
	ErrInvalidID = errors.New("boltstore: invalid record id")

	// ErrCorrupt is matched by every [*CorruptError].
	ErrCorrupt = errors.New("boltstore: corrupt file")
)

// CorruptError reports a file that is not a sound session file: torn,
// truncated, overwritten, or some other program's. [Open] returns it instead
// of a store that would miss sessions or crash later; Load returns it for a
// record that does not decode. Restore the file from a backup, or move it
// away to start empty (every session in it is then lost). It matches
// [ErrCorrupt].
type CorruptError struct {
	Path   string // the file
	Reason string // what is wrong, for the operator
	Err    error  // the underlying error, if any
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("boltstore: %s is corrupt: %s", e.Path, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes a *CorruptError match ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// errLate is the outcome of a write whose deadline had passed when its
// transaction reached it: it changed nothing.
var errLate = fmt.Errorf("boltstore: write refused: its deadline passed before it applied: %w", context.DeadlineExceeded)
