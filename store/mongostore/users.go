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

// DeleteUser implements [store.Store] in three operations on the user
// index.
//
// The first two, each one updateMany filtered on userID's records that are
// not tombstones, end them as a logout does: each becomes a tombstone that
// forwards nothing (its target the record's own ID, stored as endedTo; no
// sealed token), with no values, user id or attributes, sizes of 0 and the
// next version, as Move leaves one, and keeps its Created, LastSeen and
// expiry, so that it lasts as long as the session would have. A request in
// flight with the session's token then gets a *store.MovedError from its
// write, and drops its changes, rather than ErrNotFound, which would let a
// write-only request save them in a new session. Having no user id, the
// tombstone leaves the user index: no UserSessions lists it, and a second
// DeleteUser neither touches nor counts it.
//
// The first ends the records that expired less than the reap grace ago by
// the store's clock (a slower node's may still see them live), and does not
// count them. The second ends every record that expired less than the grace
// ago or later, and returns its count. Its filter covers the first's, so no
// record can slip between the two (a record a slower node's write moves
// from live into the grace window, or back, while the call runs: cf428d4
// had disjoint filters, and such a record escaped both). What the second
// counts is the records live by the store's clock, with a login that lands
// between the two, and one exception: a record that another node writes
// into the grace window between the two (a slower node's login or touch
// whose expiry has passed by this store's clock) is ended and counted. The
// third, one deleteMany, deletes the user's records that had expired by the
// present the first two judged by, less the reap grace: they are invisible
// already, and this only frees the index of them. A record that became
// live since (created again) is left alone, and the records the first two
// ended no longer carry the user id, so it cannot reach them.
//
// MongoDB applies an updateMany one document at a time, each atomically,
// and checks the filter on each document as it writes it. A concurrent
// write to one of the user's records therefore either lands before that
// record is ended (its changes end with the session) or finds the
// tombstone (an Update, Touch or Move filters on a live record that is not
// a tombstone, and reports the *store.MovedError). A rotation that creates
// the new record before moving the old one either finds the old one ended
// (its Move fails) or has moved it first (a tombstone, which the filter
// skips); either way its new record, live under the user unless this
// updateMany ended it too, is listed by the next UserSessions, which the
// contract allows (session.Manager.DestroyUser repeats until the listing is
// empty). A login indexed after the scan passed it is likewise listed, and
// the deleteMany never touches a live record.
//
// Each of the three is safe to run again: an ended record is not the user's
// any more, and an expired one deleted is gone. (The driver does not retry
// multi-document writes: an error may leave some records ended, which a
// repeated DeleteUser does not count again.)
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer cancel()
	if userID == "" {
		return 0, nil
	}
	// Sessions that expired less than reapGrace ago by this node's clock may
	// be live by a slower node's: they are ended too, first and not
	// counted, and only older records are deleted, as the reaper judges.
	now := s.now()
	settled := now - int64(reapGrace)
	user := bson.E{Key: fUser, Value: binData([]byte(userID))}
	notEnded := bson.E{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}}
	if _, err := s.coll.UpdateMany(ctx, bson.D{
		user, {Key: fExpires, Value: bson.D{{Key: "$gt", Value: settled}, {Key: "$lte", Value: now}}}, notEnded,
	}, endUpdate); err != nil {
		return 0, s.wrap("delete user", err)
	}
	if s.cfg.betweenEnds != nil {
		s.cfg.betweenEnds()
	}
	res, err := s.coll.UpdateMany(ctx, bson.D{user, {Key: fExpires, Value: bson.D{{Key: "$gt", Value: settled}}}, notEnded}, endUpdate)
	if err != nil {
		return 0, s.wrap("delete user", err)
	}
	n := int(res.MatchedCount)
	if _, err := s.coll.DeleteMany(ctx, bson.D{
		{Key: fUser, Value: binData([]byte(userID))},
		{Key: fExpires, Value: bson.D{{Key: "$lte", Value: settled}}},
	}); err != nil {
		return n, s.wrap("delete user", err)
	}
	return n, nil
}

// endUpdate turns a record into the tombstone DeleteUser leaves: Move's
// update to a target of endedTo with no sealed token, that keeps the
// expiry (and the reap time that goes with it).
var endUpdate = bson.D{
	{Key: "$set", Value: bson.D{
		{Key: fMovedTo, Value: endedTo}, {Key: fSealed, Value: binData(nil)},
		{Key: fSize, Value: int64(0)}, {Key: fValSize, Value: int64(0)}, {Key: fAttrSize, Value: int64(0)},
	}},
	{Key: "$unset", Value: bson.D{{Key: fValues, Value: ""}, {Key: fSizes, Value: ""}, {Key: fUser, Value: ""}, {Key: fAttrs, Value: ""}}},
	{Key: "$inc", Value: bson.D{{Key: fVersion, Value: int64(1)}}},
}
