package mongostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

// ErrClosed is returned by every method of a [Store] after [Store.Close].
var ErrClosed = errors.New("mongostore: store closed")

var (
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
	_ io.Closer       = (*Store)(nil)
)

// maxIDLen is the longest record ID the store keeps. The session manager's
// IDs are 64 bytes.
const maxIDLen = 255

// Store is a [store.Store] on one MongoDB collection, through the official
// driver. It is safe for concurrent use, by many goroutines and many nodes
// sharing the collection. Create it with [New] and stop it with
// [Store.Close].
type Store struct {
	coll     *mongo.Collection
	cfg      config
	ttlIndex bool

	// noFAMProjection: the server refused a projection in findAndModify.
	noFAMProjection atomic.Bool

	closed atomic.Bool
	ctx    context.Context // done at Close: ends the reaper
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a store on coll, which the caller configured (client, write
// concern, read preference); the collection is created by its first write
// if it does not exist. New creates the store's indexes, idempotently: one
// on the user id, and a TTL index on the reap time. A server that refuses
// the TTL index (FerretDB, or a user without the privilege to create it)
// is logged and leaves the store with its own reaper ([Store.TTLIndex]
// says which); a failure to create the user index fails New. ctx bounds
// that setup only.
//
// The client stays the caller's: Close does not disconnect it, and it must
// outlive the store.
func New(ctx context.Context, coll *mongo.Collection, opts ...Option) (*Store, error) {
	if coll == nil {
		return nil, errors.New("mongostore: nil *mongo.Collection")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxRecordSize > MaxRecordSizeLimit {
		return nil, fmt.Errorf("mongostore: WithMaxRecordSize(%d) is above MaxRecordSizeLimit (%d)", cfg.maxRecordSize, MaxRecordSizeLimit)
	}
	s := &Store{coll: coll, cfg: cfg}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := s.createIndexes(ctx); err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if !s.ttlIndex {
		s.wg.Add(1)
		go s.reaper()
	}
	return s, nil
}

// Close stops the reaper, if there is one, and waits for it (a round in
// progress is cancelled). Every later call returns ErrClosed. Close does not
// disconnect the client. It is idempotent and always returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Collection returns the collection the store keeps its records in.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// TTLIndex reports whether the server accepted the TTL index, so that its
// TTL monitor deletes expired records; if not, the store's reaper does.
func (s *Store) TTLIndex() bool { return s.ttlIndex }

// Ping checks that the server answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.coll.Database().Client().Ping(ctx, readpref.Primary()); err != nil {
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
// documents' unit.
func (s *Store) now() int64 { return recordcodec.UnixNano(s.cfg.now()) }

// errLate is the outcome of a write whose deadline had passed, by the
// store's clock, when it was about to be sent: it changed nothing.
var errLate = fmt.Errorf("mongostore: write refused: its deadline has passed: %w", context.DeadlineExceeded)

// deadline is the caller's deadline, taken before WithTimeout adds the
// store's own (which runs on the real clock, not the store's).
type deadline struct {
	t  time.Time
	ok bool
}

func callerDeadline(ctx context.Context) deadline {
	t, ok := ctx.Deadline()
	return deadline{t, ok}
}

// late reports whether the caller's deadline has passed by the store's
// clock. Each write checks it right before its atomic operation goes out.
func (s *Store) late(dl deadline) bool {
	return dl.ok && !s.cfg.now().Before(dl.t)
}

// validID reports whether id can be a record's _id: the store keeps IDs
// as strings, which BSON requires to be UTF-8.
func validID(id string) bool { return id != "" && len(id) <= maxIDLen && utf8.ValidString(id) }

var errInvalidID = fmt.Errorf("mongostore: record ID is empty, longer than %d bytes or not UTF-8", maxIDLen)

// wrap gives a driver error the store's prefix; the driver's error stays in
// the chain for errors.Is and errors.As (context errors included).
func (s *Store) wrap(op string, err error) error {
	if isTooLargeForServer(err) {
		return fmt.Errorf("mongostore: %s: the server refused the document's size: %w: %w", op, store.ErrTooLarge, err)
	}
	return fmt.Errorf("mongostore: %s: %w", op, err)
}

// isTooLargeForServer reports a server's refusal of a document over its
// BSON size cap (BSONObjectTooLarge), which the record limit keeps records
// well below.
func isTooLargeForServer(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(10334) || se.HasErrorCode(17419) || se.HasErrorCode(17420))
}

// liveFilter selects id's record if it is live at now.
func liveFilter(id string, now int64) bson.D {
	return bson.D{{Key: fID, Value: id}, {Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}}}
}

// Load implements [store.Store]: one find by _id that skips an expired
// record, whatever the TTL monitor or the reaper has not yet deleted.
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if !validID(id) {
		return nil, nil
	}
	var r record
	err = s.coll.FindOne(ctx, liveFilter(id, s.now()),
		options.FindOne().SetProjection(bson.D{{Key: fSizes, Value: 0}})).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("load", err)
	}
	rec, err := r.toRecord()
	if err != nil {
		return nil, fmt.Errorf("mongostore: load: %w", err)
	}
	return rec, nil
}

// Version implements [store.Versioner]: a find by _id that returns the
// version field only.
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if !validID(id) {
		return 0, nil
	}
	var r struct {
		Version int64 `bson:"ver"`
	}
	err = s.coll.FindOne(ctx, liveFilter(id, s.now()),
		options.FindOne().SetProjection(bson.D{{Key: fID, Value: 0}, {Key: fVersion, Value: 1}})).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, s.wrap("version", err)
	}
	return uint64(r.Version), nil
}

// Delete implements [store.Store]: one deleteOne by _id; the user index
// entry goes with the document.
func (s *Store) Delete(ctx context.Context, id string) error {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return nil
	}
	if _, err := s.coll.DeleteOne(ctx, bson.D{{Key: fID, Value: id}}); err != nil {
		return s.wrap("delete", err)
	}
	return nil
}

// reapGrace is how long after its expiry a record is left before it is
// deleted (by the TTL monitor or the reaper). An expired record is
// invisible to every call from the moment it expires, so the grace costs
// only space; it keeps a node whose clock runs ahead from deleting records
// that nodes with slower clocks still consider live, and lets a resent Move
// recognise its own tombstone after the tombstone expired.
const reapGrace = time.Minute
