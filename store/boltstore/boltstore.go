package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tether-go/tether/store"
)

var (
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

// Bucket names.
var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records") // id → encoded record
	bucketExpiry  = []byte("expiry")  // expiryKey(expires, id) → empty
	bucketUsers   = []byte("users")   // userKey(user, id) → empty
	keyFormat     = []byte("format")
	formatName    = []byte("tether-boltstore/1")
)

// MaxIDLen is the longest record ID the store accepts (bbolt keys are
// bounded, and the session manager's IDs are 64 bytes).
const MaxIDLen = 1024

// MaxUserIDLen is the longest user id the store indexes. A longer one is
// refused with an error matching [store.ErrTooLarge].
const MaxUserIDLen = 4096

// Store is a [store.Store] in one bbolt file. It is safe for concurrent use
// by many goroutines; one process at a time holds the file. Create it with
// [Open] and release the file with [Store.Close].
type Store struct {
	cfg  config
	path string
	db   *bolt.DB
	gc   groupCommitter

	// Write transactions run, counted by the writes themselves (which run
	// one transaction at a time), for tests of grouping.
	txns   atomic.Int64
	lastTx int

	closed    atomic.Bool
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// Open opens the session file at path, creating it if it does not exist,
// checks it (see the package documentation), and starts the reaper, which
// [Store.Close] stops.
//
// Open returns an error matching [ErrLocked] if another process holds the
// file for longer than [WithLockTimeout], and a [*CorruptError] if the file
// is not a sound session file. It never panics on a damaged file and never
// treats one as empty.
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := ensureFile(path); err != nil {
		return nil, err
	}
	db, err := openChecked(path, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, path: path, db: db, done: make(chan struct{})}
	s.gc.db = db
	s.wg.Add(1)
	go s.reaper()
	return s, nil
}

// Close stops the reaper, waits for writes in progress and releases the
// file. Every later call of another method returns [ErrClosed]. Close is
// idempotent.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

// Len returns the number of records in the file: sessions and tombstones,
// expired ones included until the reaper removes them. It reads every page
// of the records (bbolt keeps no count), so it is for diagnostics, not for
// every request.
func (s *Store) Len() (int, error) {
	var n int
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketRecords).Stats().KeyN
		return nil
	})
	return n, s.wrap("len", err)
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Ping reports ErrClosed after Close, and nil before: the file is local, so
// an open store can always reach it.
func (s *Store) Ping(ctx context.Context) error { return s.check(ctx) }

func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// wrap turns bbolt's errors into the store's.
func (s *Store) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	}
	return fmt.Errorf("boltstore: %s: %w", op, err)
}

// get returns the record stored under id, expired or not, or nil.
func (s *Store) get(tx *bolt.Tx, id string) (*store.Record, error) {
	return s.getWith(tx, id, decodeRecord)
}

// getMeta is get without the record's values (see decodeMeta).
func (s *Store) getMeta(tx *bolt.Tx, id string) (*store.Record, error) {
	return s.getWith(tx, id, decodeMeta)
}

func (s *Store) getWith(tx *bolt.Tx, id string, decode func([]byte) (*store.Record, error)) (*store.Record, error) {
	if id == "" || len(id) > MaxIDLen {
		return nil, nil
	}
	raw := tx.Bucket(bucketRecords).Get([]byte(id))
	if raw == nil {
		return nil, nil
	}
	rec, err := decode(raw)
	if err != nil {
		return nil, &CorruptError{Path: s.path, Reason: fmt.Sprintf("record %.16q does not decode", id), Err: err}
	}
	return rec, nil
}

// Load implements [store.Store].
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var rec *store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = s.get(tx, id)
		return err
	})
	if err != nil {
		return nil, s.wrap("load", err)
	}
	if rec == nil || !rec.Live(s.now()) {
		return nil, nil
	}
	return rec, nil
}

// Version implements [store.Versioner].
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	rec, err := s.Load(ctx, id)
	if rec == nil || err != nil {
		return 0, err
	}
	return rec.Version, nil
}

// now is the store's clock for expiry, without a monotonic reading, so that
// it compares with stored times by the wall clock.
func (s *Store) now() time.Time { return s.cfg.now().Round(0) }
