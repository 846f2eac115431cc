package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-go/tether/internal/attrcodec"
	"github.com/tether-go/tether/store"
)

// ErrClosed is returned by every method of a [Store] after [Store.Close].
var ErrClosed = errors.New("mysqlstore: store closed")

var (
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

// maxIDLen is the longest record ID the store keeps (the id column's
// width). The session manager's IDs are 64 bytes.
const maxIDLen = 255

// maxKeyLen is the longest value key the values table keeps; the session
// manager's are at most [store.MaxKeyLen].
const maxKeyLen = 1024

// Store is a [store.Store] on two InnoDB tables, through a [*sql.DB] of
// github.com/go-sql-driver/mysql. It is safe for concurrent use, by many
// goroutines and many nodes sharing the tables. Create it with [New] and
// stop its reaper with [Store.Close].
type Store struct {
	db       *sql.DB
	cfg      config
	n        *names
	st       *stmts
	reapLock string

	closed atomic.Bool
	ctx    context.Context // done at Close: ends the reaper
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a store on db, whose DSN names the database that holds (or
// will hold) the tables. Unless WithCreateTable(false), it creates the tables
// if they do not exist; either way it checks that they are there with the
// expected columns, and that the server's max_allowed_packet admits the
// largest record, so a misconfiguration fails here. ctx bounds that setup
// only.
//
// New starts the reaper goroutine, which [Store.Close] stops. The *sql.DB
// stays the caller's: Close does not close it, and it must outlive the store.
func New(ctx context.Context, db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("mysqlstore: nil *sql.DB")
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
	reapLock, err := setupTable(ctx, db, &cfg, n)
	if err != nil {
		return nil, err
	}
	st, err := prepare(ctx, db, n)
	if err != nil {
		return nil, fmt.Errorf("mysqlstore: prepare statements: %w", err)
	}
	s := &Store{db: db, cfg: cfg, n: n, st: st, reapLock: reapLock}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.reaper()
	return s, nil
}

// Close stops the reaper and waits for it (a batch in progress is cancelled)
// and closes the store's prepared statements. Every later call returns
// ErrClosed. Close does not close the *sql.DB. It is idempotent and always
// returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	s.st.close()
	return nil
}

// Table returns the quoted name of the sessions table, as it appears in the
// store's SQL.
func (s *Store) Table() string { return s.n.table }

// Ping checks that a connection to the server works, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
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

// now is the time expiry is judged against (see [WithClock]), in the
// columns' unit.
func (s *Store) now() int64 { return s.cfg.now().UnixNano() }

func validID(id string) bool { return id != "" && len(id) <= maxIDLen }

var errInvalidID = fmt.Errorf("mysqlstore: record ID is empty or longer than %d bytes", maxIDLen)

// Load implements [store.Store] in one statement: the record's row joined
// with its values' rows, one consistent read.
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if !validID(id) {
		return nil, nil
	}
	rows, err := s.st.load.QueryContext(ctx, id, s.now())
	if err != nil {
		return nil, s.wrap("load", err)
	}
	defer rows.Close()
	var (
		rec    *store.Record
		values store.ValuesBuilder
	)
	for rows.Next() {
		var (
			userID, movedTo            sql.RawBytes
			sealed                     []byte
			created, lastSeen, expires int64
			version                    uint64
			attrs                      sql.RawBytes
			k                          sql.NullString
			v                          []byte
		)
		if err := rows.Scan(&userID, &created, &lastSeen, &expires, &version, &movedTo, &sealed, &attrs, &k, &v); err != nil {
			return nil, s.wrap("load", err)
		}
		if rec == nil {
			rec = &store.Record{
				UserID:   string(userID),
				Created:  time.Unix(0, created),
				LastSeen: time.Unix(0, lastSeen),
				Expires:  time.Unix(0, expires),
				Version:  version,
			}
			if movedTo != nil {
				rec.Moved = &store.Moved{To: string(movedTo), Sealed: sealed}
			}
		}
		if attrs != nil { // on one row (see the query)
			if rec.Attrs, err = attrcodec.Decode(attrs); err != nil { // copies
				return nil, fmt.Errorf("mysqlstore: load %.8s…: %w", id, err)
			}
		}
		if k.Valid {
			values.Add(k.String, v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("load", err)
	}
	if rec != nil {
		rec.Values = values.Values()
	}
	return rec, nil
}

// Version implements [store.Versioner]: one primary-key lookup of a bigint,
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
	var v uint64
	err = s.st.version.QueryRowContext(ctx, id, s.now()).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.wrap("version", err)
	}
	return v, nil
}

// Delete implements [store.Store]: one statement; the values go with the
// record (ON DELETE CASCADE).
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return nil
	}
	if _, err := s.st.delete.ExecContext(ctx, id); err != nil {
		return s.wrap("delete", err)
	}
	return nil
}
