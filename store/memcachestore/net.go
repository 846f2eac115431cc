package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/store"
)

// Backoff between compare-and-swap attempts: a random wait in [0, d) where d
// doubles from backoffBase up to backoffMax ("full jitter"), so that writers
// that collided do not collide again in lockstep.
const (
	backoffBase = 500 * time.Microsecond
	backoffMax  = 20 * time.Millisecond
)

// call runs op, one memcached command, for ctx.
//
// gomemcache takes no context: a command is bounded by the client's Timeout
// (memcache.DefaultTimeout, 500ms, unless the caller set it), and ctx is
// checked before the command is sent: its cancellation, and its deadline by
// the store's clock (see [Store.Commit] on late writes). Set the client's
// Timeout below the session manager's store timeout.
//
// A connection taken from the client's idle pool may have died with its
// server (a restart, an idle timeout): the first command on it fails with EOF
// or a reset, without having reached any server process. call then drops the
// client's idle connections, all of them stale alike, and runs op once more on
// a fresh one, so that a restart does not fail a burst of requests. The same
// error also ends a connection whose server carried out the command and
// closed before replying: the resent command must be safe to run twice.
// Reads and deletes are; every conditional write is followed by a check of
// what is stored, which recognises its own effect (see swap.go and
// commit.go).
func (s *Store) call(ctx context.Context, op func() error) error {
	if err := s.sendable(ctx); err != nil {
		return err
	}
	err := op()
	if err == nil || !staleConn(err) {
		return err
	}
	s.client.Close()
	if err := s.sendable(ctx); err != nil {
		return err
	}
	return op()
}

// errLate is the error of a command not sent because its context's deadline
// had passed by the store's clock.
var errLate = fmt.Errorf("the deadline passed before the command was sent: %w", context.DeadlineExceeded)

// sendable reports whether a command may still be sent for ctx: the context
// is not done, and its deadline has not passed by the store's clock.
// Memcached has no clock a command could compare a deadline with, so this is
// the last point at which a late write can be stopped.
func (s *Store) sendable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !s.now().Before(d) {
		return errLate
	}
	return nil
}

// staleConn reports whether err says the connection was closed under the
// client, as opposed to a server that answered with an error or a timeout
// (which might be a command still running: not safe to repeat blindly).
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed)
}

// backoff waits before compare-and-swap attempt number attempt (from 1), or
// returns ctx's error.
func backoff(ctx context.Context, attempt int) error {
	d := backoffMax
	if attempt < 16 {
		d = min(backoffBase<<attempt, backoffMax)
	}
	t := time.NewTimer(rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errConflict is the error of a compare-and-swap loop that ran out of
// attempts.
func (s *Store) errConflict(op string) error {
	return &conflictError{op: op, attempts: s.cfg.casRetries}
}

type conflictError struct {
	op       string
	attempts int
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("memcachestore: %s: the item kept changing through %d compare-and-swap attempts", e.op, e.attempts)
}

func (e *conflictError) Unwrap() error { return store.ErrConflict }

// tooLargeReply reports whether err is memcached refusing an item over its
// own size limit (-I), which gomemcache passes on as an unexpected line.
func tooLargeReply(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SERVER_ERROR object too large")
}

// serverTooLarge is the error for an item the server refused as too large:
// the server's limit is below the store's WithMaxItemSize.
type serverTooLarge struct {
	size, limit int
}

func (e *serverTooLarge) Error() string {
	return fmt.Sprintf("memcachestore: server refused a %d-byte item as too large (its -I limit is below WithMaxItemSize, %d)", e.size, e.limit)
}

func (e *serverTooLarge) Is(target error) bool { return target == store.ErrTooLarge }

// isMiss reports whether err is memcached's "no such item".
func isMiss(err error) bool { return errors.Is(err, memcache.ErrCacheMiss) }

// lostRace reports whether a conditional write failed because the item
// changed (ErrCASConflict) or disappeared since it was read: memcached
// answers a cas on a missing key with NOT_FOUND (ErrCacheMiss), and an add or
// cas it could not store with NOT_STORED (ErrNotStored).
func lostRace(err error) bool {
	return errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrNotStored) ||
		errors.Is(err, memcache.ErrCacheMiss)
}
