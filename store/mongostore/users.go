package mongostore

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tether-go/tether/store"
)

// The user index is the u field and its index: a record leaves it when the
// field changes or the document goes, so there are no index entries to
// clean up. Expired records keep the field until they are deleted, and the
// queries skip them.

// userFilter selects userID's live records.
func userFilter(userID string, now int64) bson.D {
	return bson.D{
		{Key: fUser, Value: binData([]byte(userID))},
		{Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}},
	}
}

// UserSessions implements [store.Store] in one find on the user index,
// whose projection leaves out the values. The empty user id names no user
// and lists nothing.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	if userID == "" {
		return nil, nil
	}
	cur, err := s.coll.Find(ctx, userFilter(userID, s.now()),
		options.Find().SetProjection(bson.D{{Key: fValues, Value: 0}, {Key: fSizes, Value: 0}}))
	if err != nil {
		return nil, s.wrap("user sessions", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var infos []store.Info
	for cur.Next(ctx) {
		var r record
		if err := cur.Decode(&r); err != nil {
			return nil, s.wrap("user sessions", err)
		}
		if r.MovedTo != nil {
			continue // a tombstone has no user; never written, but never listed either
		}
		attrs, err := decodeAttrs(r.Attrs)
		if err != nil {
			return nil, s.wrap("user sessions", err)
		}
		infos = append(infos, store.Info{
			ID: r.ID, UserID: userID, Attrs: attrs,
			Created: time.Unix(0, r.Created), LastSeen: time.Unix(0, r.LastSeen), Expires: time.Unix(0, r.Expires),
		})
	}
	if err := cur.Err(); err != nil {
		return nil, s.wrap("user sessions", err)
	}
	return infos, nil
}

// DeleteUser implements [store.Store] in two deleteMany on the user index:
// the live records, whose count it returns, then the expired ones not yet
// deleted, so that nothing of the user's sessions is left.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" {
		return 0, nil
	}
	res, err := s.coll.DeleteMany(ctx, userFilter(userID, s.now()))
	if err != nil {
		return 0, s.wrap("delete user", err)
	}
	if _, err := s.coll.DeleteMany(ctx, bson.D{{Key: fUser, Value: binData([]byte(userID))}}); err != nil {
		return int(res.DeletedCount), s.wrap("delete user", err)
	}
	return int(res.DeletedCount), nil
}
