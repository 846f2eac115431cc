package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Index names, fixed so that every node asks for the same index and a
// second New finds it in place.
const (
	userIndex = "tether_user"
	ttlIndex  = "tether_reap_ttl"
	reapIndex = "tether_reap"
)

// createIndexes creates the user-id index (required) and tries the TTL
// index on the reap time (a backstop: the store never relies on it to hide
// expired records). A refused TTL index is logged and recorded, and the
// store runs its own reaper instead.
func (s *Store) createIndexes(ctx context.Context) error {
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fUser, Value: 1}},
		Options: options.Index().SetName(userIndex),
	})
	if err != nil {
		return fmt.Errorf("mongostore: create the user index: %w", err)
	}
	if s.cfg.noTTLIndex {
		return nil
	}
	_, err = s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fReapAt, Value: 1}},
		Options: options.Index().SetName(ttlIndex).SetExpireAfterSeconds(0),
	})
	switch {
	case err == nil:
		s.ttlIndex = true
	case ctx.Err() != nil:
		return fmt.Errorf("mongostore: create the TTL index: %w", err)
	default:
		// FerretDB answers NotImplemented (code 238); MongoDB refuses it to
		// a user without createIndex, or when an index of that name
		// exists with other options.
		s.cfg.log.Warn("mongostore: the server refused the TTL index; the store deletes expired records itself",
			"collection", s.coll.Name(), "reap_interval", s.cfg.reapInterval, "err", err)
		s.createReapIndex(ctx)
	}
	return nil
}

// createReapIndex creates a plain index on the reap time for the reaper's
// deleteMany, which would otherwise scan the collection every round. A
// refusal is logged only: the reaper works without it, and where an index
// on the field exists already (the TTL index under other options, the
// usual cause of a refused TTL index) it uses that one.
func (s *Store) createReapIndex(ctx context.Context) {
	_, err := s.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: fReapAt, Value: 1}},
		Options: options.Index().SetName(reapIndex),
	})
	if err != nil {
		s.cfg.log.Warn("mongostore: no index on the reap time; each reaper round scans the collection",
			"collection", s.coll.Name(), "err", err)
	}
}

// reaper deletes expired records every reap interval until Close, on a
// server without the TTL index. Every node that runs one deletes the same
// records; a delete of what another node deleted is a no-op, so no lock is
// needed.
func (s *Store) reaper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.reapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			n, err := s.reap(s.ctx)
			switch {
			case err != nil && s.ctx.Err() == nil:
				s.cfg.log.Warn("mongostore: reaping expired sessions failed", "collection", s.coll.Name(), "err", err)
			case n > 0:
				s.cfg.log.Debug("mongostore: reaped expired sessions", "collection", s.coll.Name(), "deleted", n)
			}
		}
	}
}

// reap deletes the records whose reap time has passed, in one deleteMany,
// and returns how many it deleted.
func (s *Store) reap(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: fReapAt, Value: bson.D{{Key: "$lte", Value: s.cfg.now()}}}})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0, err
		}
		return 0, s.wrap("reap", err)
	}
	return int(res.DeletedCount), nil
}
