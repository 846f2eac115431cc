package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/internal/attrcodec"

	"github.com/tether-go/tether/store"
)

// ErrClosed is returned by every method of a [Store] after [Store.Close].
var ErrClosed = errors.New("pgstore: store closed")

var (
	_ store.Store     = (*Store)(nil)
	_ store.Notifier  = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

// maxIDLen bounds the IDs the store accepts for writes. The session manager's
// IDs are 64 bytes; the bound keeps a hostile ID out of the primary key index
// and under NOTIFY's payload limit (8000 bytes).
const maxIDLen = 1024

// Store is a [store.Store] on a Postgres table, through a [pgxpool.Pool]. It
// is safe for concurrent use, by many goroutines and many nodes sharing the
// table. Create it with [New] and stop its reaper with [Store.Close].
type Store struct {
	pool    *pgxpool.Pool
	cfg     config
	n       *names
	q       queries
	reapKey int64

	closed atomic.Bool
	ctx    context.Context // done at Close: ends the reaper and Notify calls
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a store on pool. Unless WithCreateTable(false), it creates the
// table and its indexes if they do not exist; either way it checks that the
// table is there and has the expected columns, so a misconfiguration fails
// here. ctx bounds that setup only.
//
// New starts the reaper goroutine, which [Store.Close] stops. The pool stays
// the caller's: Close does not close it, and it must outlive the store.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgstore: nil pool")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	n, err := newNames(&cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	oid, err := setupTable(ctx, pool, &cfg, n)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool:    pool,
		cfg:     cfg,
		n:       n,
		q:       buildQueries(n.table, cfg.notify),
		reapKey: lockKey(lockTagReap, oid),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.reaper()
	return s, nil
}

// Close stops the reaper and waits for it (a batch in progress is cancelled
// and rolls back), and makes running [Store.Notify] calls return [ErrClosed]
// (without waiting for them).
// Every later call returns ErrClosed. Close does not close the pool. It is
// idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Table returns the quoted, possibly schema-qualified, table name the store
// uses, as it appears in its SQL.
func (s *Store) Table() string { return s.n.table }

// Ping checks that a connection to Postgres works, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// begin starts a call: it checks the store is open and the context not done,
// and applies WithTimeout.
func (s *Store) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	return ctx, cancel, nil
}

// now is the time expiry is judged against (see [WithClock]).
func (s *Store) now() time.Time { return s.cfg.now() }

// validID reports whether id can be a key in the table: Postgres text holds
// valid UTF-8 without NUL. A Load of any other ID finds nothing, without a
// round trip.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && validText(id)
}

// validText reports whether s can be Postgres text.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// wrap prefixes a Postgres or network error with the operation. Context
// errors stay matchable with errors.Is.
func wrap(op string, err error) error {
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// Load implements [store.Store].
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if !validID(id) {
		return nil, nil
	}
	var (
		raw     []byte
		userID  *string
		rec     store.Record
		version int64
		movedTo *string
		sealed  []byte
		attrs   []byte
	)
	err = s.pool.QueryRow(ctx, s.q.load, id, s.now()).Scan(&raw, &userID, &rec.Created, &rec.LastSeen, &rec.Expires, &version, &movedTo, &sealed, &attrs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("load", err)
	}
	values, err := decodeValues(raw)
	if err != nil {
		return nil, fmt.Errorf("pgstore: load %.8s…: %w", id, err)
	}
	rec.Values = store.ValuesOf(values)
	if rec.Attrs, err = attrcodec.Decode(attrs); err != nil {
		return nil, fmt.Errorf("pgstore: load %.8s…: %w", id, err)
	}
	if userID != nil {
		rec.UserID = decodeUserID(*userID)
	}
	rec.Version = uint64(version)
	if movedTo != nil {
		rec.Moved = &store.Moved{To: *movedTo, Sealed: sealed}
	}
	return &rec, nil
}

// Version implements [store.Versioner]: one indexed lookup of a bigint,
// without the values.
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if !validID(id) {
		return 0, nil
	}
	var v int64
	err = s.pool.QueryRow(ctx, s.q.version, id, s.now()).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("version", err)
	}
	return uint64(v), nil
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return nil
	}
	if err := s.writeRow(ctx, s.q.delete, []any{id, s.n.channel}, nil); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return wrap("delete", err)
	}
	return nil
}
