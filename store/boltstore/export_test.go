package boltstore

import "time"

// WithDeadlineClock replaces the clock a write's deadline is compared with.
func WithDeadlineClock(now func() time.Time) Option {
	return func(c *config) { c.deadlineNow = now }
}

// WithSerialCommits makes every write its own transaction (one fsync each).
func WithSerialCommits() Option { return func(c *config) { c.commit = serial } }

// WithBoltBatch makes writes go through bbolt's DB.Batch.
func WithBoltBatch() Option { return func(c *config) { c.commit = boltBatch } }

// ReapBatch runs one reaper batch and returns the index entries it removed.
func (s *Store) ReapBatch() (int, error) { return s.reapBatch() }

// DecodeRecord, ParseExpiryKey and ParseUserKey expose the decoders to the
// fuzz tests.
var (
	DecodeRecord   = decodeRecord
	DecodeMeta     = decodeMeta
	EncodeRecord   = encodeRecord
	ParseExpiryKey = parseExpiryKey
	ParseUserKey   = parseUserKey
	ExpiryKey      = expiryKey
	UserKey        = userKey
)

// Transactions returns how many write transactions the store's writes ran in.
func (s *Store) Transactions() int64 { return s.txns.Load() }

// Precheck exposes the pre-open check to its fuzz test.
var Precheck = precheck

// WithGroupCommit selects the default: the store's own group commit.
func WithGroupCommit() Option { return func(c *config) { c.commit = groupCommit } }
