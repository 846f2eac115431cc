package memcachestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

var (
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
	_ store.Pinger    = (*Store)(nil)
)

// ErrCorrupt is matched (with errors.Is) by the error a method returns when a
// stored item does not decode: something other than this store wrote under
// its prefix. It is a fault, reported like an outage, never read as "no
// session".
var ErrCorrupt = errors.New("memcachestore: corrupt item")

// Store is a [store.Store] on memcached, through a gomemcache client. It is
// safe for concurrent use by multiple goroutines and processes. It starts no
// goroutines and holds nothing to release: the client belongs to the caller.
type Store struct {
	client *memcache.Client
	cfg    config
	err    error // a configuration error, returned by every method
	checks indexChecks
}

// New returns a store that keeps records on the servers of client. The
// caller configures the client (servers, Timeout, MaxIdleConns) and closes
// it; the store never changes its settings. Options with non-positive values
// select their defaults.
//
// A nil client or an invalid [WithKeyPrefix] makes every method of the store,
// [Store.Ping] included, return the configuration error: New has no error
// result, so check Ping at start-up.
func New(client *memcache.Client, opts ...Option) *Store {
	cfg := config{
		prefix:        DefaultKeyPrefix,
		maxRecordSize: DefaultMaxRecordSize,
		maxItemSize:   DefaultMaxItemSize,
		casRetries:    DefaultCASRetries,
		logger:        slog.Default(),
		now:           time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Store{client: client, cfg: cfg, err: cfg.validate()}
	if client == nil && s.err == nil {
		s.err = errors.New("memcachestore: nil *memcache.Client")
	}
	return s
}

// check reports a configuration error or a done context.
func (s *Store) check(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

func (s *Store) now() time.Time { return s.cfg.now() }

// recordKey returns the key of the record under id, and false if id cannot
// be part of a memcached key. The session manager's IDs (64 hex digits)
// always can.
func (s *Store) recordKey(id string) (string, bool) {
	if id == "" || len(id) > 64 || !legalKeyPart(id) {
		return "", false
	}
	return s.cfg.prefix + "s:" + id, true
}

// errInvalidID is returned by writes given an ID that cannot be part of a
// memcached key; the session manager never makes one.
func errInvalidID(op, id string) error {
	return fmt.Errorf("memcachestore: %s: ID %q cannot be part of a memcached key", op, id)
}

// indexKey returns the key of the user index of user. User ids may hold any
// byte, which memcached keys cannot, hence the hash.
func (s *Store) indexKey(user string) string {
	sum := sha256.Sum256([]byte(user))
	return s.cfg.prefix + "u:" + hex.EncodeToString(sum[:])
}

// get reads the item under key with its CAS id, or returns nil if there is
// none.
func (s *Store) get(ctx context.Context, key string) (*memcache.Item, error) {
	var it *memcache.Item
	err := s.call(ctx, func() (err error) {
		it, err = s.client.Get(key)
		return err
	})
	if isMiss(err) {
		return nil, nil
	}
	return it, err
}

// getRecord reads and decodes the record item under key. It returns a nil
// item if there is none; an expired record is returned as it is, for the
// caller to judge with its clock.
func (s *Store) getRecord(ctx context.Context, key string) (*memcache.Item, *store.Record, error) {
	it, err := s.get(ctx, key)
	if it == nil || err != nil {
		return nil, nil, err
	}
	rec, err := decodeRecord(it)
	if err != nil {
		return nil, nil, err
	}
	return it, rec, nil
}

func decodeRecord(it *memcache.Item) (*store.Record, error) {
	rec, err := recordcodec.Unmarshal(it.Value)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrCorrupt, it.Key, err)
	}
	return rec, nil
}

// Load implements [store.Store]. It costs one round trip.
func (s *Store) Load(ctx context.Context, id string) (*store.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return nil, nil
	}
	_, rec, err := s.getRecord(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("memcachestore: load: %w", err)
	}
	if rec == nil || !rec.Live(s.now()) {
		return nil, nil
	}
	return rec, nil
}

// Version implements [store.Versioner]: the version of the record under id,
// 0 if it is missing or expired.
//
// Memcached has no command that answers an item's metadata without its value
// (the meta protocol's mg does, but gomemcache does not speak it), so Version
// costs what Load costs on the wire: one round trip carrying the record. It
// saves the decoding: only the record's header is read. The version is the
// one inside the record, written by the same compare-and-swap as the record,
// so it can never disagree with the record's content; a separate version
// item would be smaller to fetch but could be evicted, or left behind by a
// failed second write, independently of the record. See the package
// documentation, "Versions".
func (s *Store) Version(ctx context.Context, id string) (uint64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	key, ok := s.recordKey(id)
	if !ok {
		return 0, nil
	}
	it, err := s.get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("memcachestore: version: %w", err)
	}
	if it == nil {
		return 0, nil
	}
	h, err := peekHeader(it.Value)
	if err != nil {
		return 0, fmt.Errorf("memcachestore: version: %w %s: %w", ErrCorrupt, key, err)
	}
	if !s.now().Before(h.expires) {
		return 0, nil
	}
	return h.version, nil
}

// Ping implements [store.Pinger]: it asks every server of the client for its
// version, and fails if any does not answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := s.call(ctx, s.client.Ping); err != nil {
		return fmt.Errorf("memcachestore: ping: %w", err)
	}
	return nil
}

// logger returns the configured logger.
func (s *Store) logger() *slog.Logger { return s.cfg.logger }
