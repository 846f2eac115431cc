package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/internal/versionstep"
	"github.com/tether-go/tether/store"
)

// maxAttempts bounds the optimistic loops of Commit, Touch and Move: a write
// whose filter no longer matches what it read (another write came between)
// reads again and retries, and after maxAttempts reports
// [store.ErrConflict], changing nothing.
const maxAttempts = 16

// Commit implements [store.Store]. Every attempt is one atomic operation on
// the record's document, whose filter carries the preconditions (see the
// package doc); an Update first reads the record's metadata, without its
// values, to compute the filter.
func (s *Store) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	dl := callerDeadline(ctx)
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return store.Result{}, err
	}
	defer cancel()
	if err := checkAttrs(&c); err != nil {
		return store.Result{}, err
	}
	switch c.Mode {
	case store.Create:
		return s.create(ctx, dl, id, &c)
	case store.Update:
		return s.update(ctx, dl, id, &c)
	}
	return store.Result{}, fmt.Errorf("mongostore: unknown commit mode %v", c.Mode)
}

// checkAttrs refuses attributes BSON cannot hold as strings.
func checkAttrs(c *store.Change) error {
	for k, v := range c.Attrs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("mongostore: attribute %q is not valid UTF-8", k)
		}
	}
	return nil
}

// valuesDocs returns the values and sizes sub-documents of a record holding
// exactly set, and the bytes the values count in store.Record.Size.
func valuesDocs(set map[string][]byte) (values, sizes bson.D, n int64) {
	values, sizes = make(bson.D, 0, len(set)), make(bson.D, 0, len(set))
	for k, v := range set {
		f := escapeKey(k)
		size := int64(len(k) + len(v))
		values = append(values, bson.E{Key: f, Value: binData(v)})
		sizes = append(sizes, bson.E{Key: f, Value: size})
		n += size
	}
	return values, sizes, n
}

func (s *Store) tooLarge(size int64) error {
	if size > int64(s.cfg.maxRecordSize) {
		return &store.TooLargeError{Size: int(size), Limit: s.cfg.maxRecordSize}
	}
	return nil
}

// newDoc returns the whole document of a record, and its size as
// store.Record.Size counts it.
func newDoc(id string, set map[string][]byte, user string, attrMap map[string]string, created, lastSeen, e, version int64) (bson.D, int64) {
	values, sizes, vsz := valuesDocs(set)
	attrs, asz := attrsDoc(attrMap)
	size := vsz + asz + int64(len(user))
	doc := bson.D{
		{Key: fID, Value: id},
		{Key: fValues, Value: values},
		{Key: fSizes, Value: sizes},
		{Key: fCreated, Value: created},
		{Key: fLastSeen, Value: lastSeen},
		{Key: fExpires, Value: e},
		{Key: fReapAt, Value: reapAt(e)},
		{Key: fVersion, Value: version},
		{Key: fSize, Value: size},
		{Key: fValSize, Value: vsz},
		{Key: fAttrSize, Value: asz},
	}
	if user != "" {
		doc = append(doc, bson.E{Key: fUser, Value: binData([]byte(user))})
	}
	if attrs != nil {
		doc = append(doc, bson.E{Key: fAttrs, Value: attrs})
	}
	return doc, size
}

// create inserts the record's document. A duplicate _id is either a live
// record (ErrExists) or an expired record or tombstone, which one
// replaceOne, filtered on that expiry, replaces whole.
func (s *Store) create(ctx context.Context, dl deadline, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, errInvalidID
	}
	doc, size := newDoc(id, c.Set, c.UserID, c.Attrs, recordcodec.UnixNano(c.Created), recordcodec.UnixNano(c.LastSeen), recordcodec.UnixNano(c.Expires), 1)
	if err := s.tooLarge(size); err != nil {
		return store.Result{}, err
	}
	for range maxAttempts {
		if s.late(dl) {
			return store.Result{}, errLate
		}
		_, err := s.coll.InsertOne(ctx, doc)
		if err == nil {
			return store.Result{Version: 1}, nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return store.Result{}, s.wrap("create", err)
		}
		now := s.now()
		if s.late(dl) {
			return store.Result{}, errLate
		}
		res, err := s.coll.ReplaceOne(ctx, bson.D{{Key: fID, Value: id}, {Key: fExpires, Value: bson.D{{Key: "$lte", Value: now}}}}, doc)
		if err != nil {
			return store.Result{}, s.wrap("create", err)
		}
		if res.MatchedCount == 1 {
			return store.Result{Version: 1}, nil
		}
		// Neither inserted nor replaced: live, or deleted in between.
		err = s.coll.FindOne(ctx, liveFilter(id, now), options.FindOne().SetProjection(bson.D{{Key: fVersion, Value: 1}})).Err()
		if err == nil {
			return store.Result{}, store.ErrExists
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return store.Result{}, s.wrap("create", err)
		}
	}
	return store.Result{}, store.ErrConflict
}

// metaProjection is what an Update reads before it writes: everything but
// the values and the sizes, plus the sizes of the keys the change touches.
func metaProjection(fields []string) bson.D {
	p := bson.D{
		{Key: fExpires, Value: 1}, {Key: fVersion, Value: 1}, {Key: fMovedTo, Value: 1}, {Key: fSealed, Value: 1},
		{Key: fSize, Value: 1}, {Key: fValSize, Value: 1}, {Key: fAttrSize, Value: 1}, {Key: fUser, Value: 1},
	}
	for _, f := range fields {
		p = append(p, bson.E{Key: fSizes + "." + f, Value: 1})
	}
	return p
}

// readMeta reads id's record through projection; nil if there is none.
func (s *Store) readMeta(ctx context.Context, id string, projection bson.D) (*record, error) {
	var r record
	err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}, options.FindOne().SetProjection(projection)).Decode(&r)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// update applies the delta with one findOneAndUpdate whose filter pins
// what the delta's size accounting read: the size of every key it touches
// (or its absence), the user id if it changes it, the attributes' and, for
// Clear, the values' total size; and requires a live record, not a
// tombstone, whose size leaves room for the delta. Writes of other keys
// change none of that, so concurrent commits of different keys do not
// retry each other; two writes of one key retry until one has read what
// the other wrote.
//
// Sent again after its reply was lost, the operation finds the pinned sizes
// changed by its own first run and does not match (unless every pinned size
// came out unchanged, and then applying it again changes nothing but the
// version); the loop then reads again and re-applies the same delta, which
// gives the same record.
func (s *Store) update(ctx context.Context, dl deadline, id string, c *store.Change) (store.Result, error) {
	if !validID(id) {
		return store.Result{}, store.ErrNotFound
	}
	// dels: the keys to delete, each once. A key Delete names twice must
	// be counted once, and MongoDB refuses a path named twice in one
	// projection or update.
	var dels []string
	if !c.Clear {
		seen := make(map[string]bool, len(c.Delete))
		for _, k := range c.Delete {
			if _, set := c.Set[k]; !set && !seen[k] {
				seen[k] = true
				dels = append(dels, k)
			}
		}
	}
	var touched []string
	if !c.Clear {
		touched = make([]string, 0, len(c.Set)+len(dels))
		for k := range c.Set {
			touched = append(touched, escapeKey(k))
		}
		for _, k := range dels {
			touched = append(touched, escapeKey(k))
		}
	}
	if inPlaceCost(c, dels) > s.cfg.inPlaceMax {
		return s.replace(ctx, dl, id, c)
	}
	projection := metaProjection(touched)
	for range maxAttempts {
		r, err := s.readMeta(ctx, id, projection)
		if err != nil {
			return store.Result{}, s.wrap("commit", err)
		}
		// The present is taken after the read, so that a record that
		// expired while it was on the wire is not extended by the write.
		now := s.liveAt(c)
		if err := r.outcome(now); err != nil {
			return store.Result{}, err
		}
		step := versionstep.Next()
		filter, update, err := s.updateOp(r, id, now, c, dels, step)
		if err != nil {
			return store.Result{}, err
		}
		if s.late(dl) {
			return store.Result{}, errLate
		}
		version, err := s.findAndUpdate(ctx, filter, update)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // changed since read: read again
		}
		if err != nil {
			return store.Result{}, s.wrap("commit", err)
		}
		return store.Result{Version: version, Prior: version - step}, nil
	}
	return store.Result{}, store.ErrConflict
}

// defaultInPlaceMax is the largest in-place Update command, as
// inPlaceCost estimates it, that the store sends. BSON caps a command at
// 16 MiB (and 16 KiB), and an Update of many tiny keys costs about 22 bytes
// of command per byte of record (each key's field name three times: a pin,
// a value, a size; escaped, each can be three times the key), so a change
// within the record limit can make a command the server refuses.
const defaultInPlaceMax = 8 << 20

// inPlaceCost estimates, from above, the bytes of the filter and update of
// an in-place Update of c: per key touched, its field name three times and
// the BSON of a pin, a value and a size; the value; the attributes and
// user id whole.
func inPlaceCost(c *store.Change, dels []string) int {
	const perField = 32
	n := 0
	for k, v := range c.Set {
		n += 3*(3*len(k)+perField) + len(v)
	}
	for _, k := range dels {
		n += 3 * (3*len(k) + perField)
	}
	if c.SetAttrs {
		for k, v := range c.Attrs {
			n += 3*len(k) + len(v) + perField
		}
	}
	return n + 2*len(c.UserID)
}

// replace applies an Update too large for one in-place command (see
// inPlaceMax): it reads the whole record, applies the change in Go, and
// replaces the document with one replaceOne filtered on the version it
// read (every write increments it), on a live record, not a tombstone.
// The new document is never larger than what the limit admits, which fits
// BSON's cap (see MaxRecordSizeLimit). Concurrent writes retry it as they
// retry each other.
func (s *Store) replace(ctx context.Context, dl deadline, id string, c *store.Change) (store.Result, error) {
	for range maxAttempts {
		var r *record
		var doc record
		err := s.coll.FindOne(ctx, bson.D{{Key: fID, Value: id}}).Decode(&doc)
		switch {
		case err == nil:
			r = &doc
		case !errors.Is(err, mongo.ErrNoDocuments):
			return store.Result{}, s.wrap("commit", err)
		}
		now := s.liveAt(c) // after the read, as in update
		if err := r.outcome(now); err != nil {
			return store.Result{}, err
		}
		values, err := decodeValues(r.Values)
		if err != nil {
			return store.Result{}, fmt.Errorf("mongostore: commit: %w", err)
		}
		values = c.Apply(store.ValuesOf(values)).Map()
		user := string(r.User)
		if c.SetUserID {
			user = c.UserID
		}
		attrs := c.Attrs
		if !c.SetAttrs {
			if attrs, err = decodeAttrs(r.Attrs); err != nil {
				return store.Result{}, fmt.Errorf("mongostore: commit: %w", err)
			}
		}
		lastSeen, e := r.LastSeen, r.Expires
		if !c.LastSeen.IsZero() {
			lastSeen = recordcodec.UnixNano(c.LastSeen)
		}
		if !c.Expires.IsZero() {
			e = recordcodec.UnixNano(c.Expires)
		}
		step := versionstep.Next()
		next, size := newDoc(id, values, user, attrs, r.Created, lastSeen, e, r.Version+int64(step))
		if err := s.tooLarge(size); err != nil {
			return store.Result{}, err
		}
		if s.late(dl) {
			return store.Result{}, errLate
		}
		res, err := s.coll.ReplaceOne(ctx, bson.D{
			{Key: fID, Value: id},
			{Key: fVersion, Value: r.Version},
			{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}},
			{Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}},
		}, next)
		if err != nil {
			return store.Result{}, s.wrap("commit", err)
		}
		if res.MatchedCount == 1 {
			return store.Result{Version: uint64(r.Version) + step, Prior: uint64(r.Version)}, nil
		}
	}
	return store.Result{}, store.ErrConflict
}

// liveAt is the present an Update judges liveness by: the store's clock,
// or c.LiveAt if the caller's clock runs ahead (it judges too).
func (s *Store) liveAt(c *store.Change) int64 {
	now := s.now()
	if live := recordcodec.UnixNano(c.LiveAt); !c.LiveAt.IsZero() && live > now {
		now = live
	}
	return now
}

// updateOp builds the filter and update of one Update attempt from r, the
// record's metadata as read. Update sends a change too large for one
// in-place command (see inPlaceCost) to replace instead.
func (s *Store) updateOp(r *record, id string, now int64, c *store.Change, dels []string, step uint64) (filter, update bson.D, err error) {
	filter = bson.D{
		{Key: fID, Value: id},
		{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}},
		{Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}},
	}
	var set, unset bson.D
	absent := bson.D{{Key: "$exists", Value: false}}
	pin := func(field string, old int64, had bool) {
		if had {
			filter = append(filter, bson.E{Key: field, Value: old})
		} else {
			filter = append(filter, bson.E{Key: field, Value: absent})
		}
	}

	var vdelta int64
	if c.Clear {
		values, sizes, n := valuesDocs(c.Set)
		filter = append(filter, bson.E{Key: fValSize, Value: r.ValSize})
		set = append(set, bson.E{Key: fValues, Value: values}, bson.E{Key: fSizes, Value: sizes})
		vdelta = n - r.ValSize
	} else {
		for k, v := range c.Set {
			f := escapeKey(k)
			old, had, err := sizeOf(r.Sizes, f)
			if err != nil {
				return nil, nil, err
			}
			pin(fSizes+"."+f, old, had)
			size := int64(len(k) + len(v))
			vdelta += size - old
			set = append(set, bson.E{Key: fValues + "." + f, Value: binData(v)}, bson.E{Key: fSizes + "." + f, Value: size})
		}
		for _, k := range dels {
			f := escapeKey(k)
			old, had, err := sizeOf(r.Sizes, f)
			if err != nil {
				return nil, nil, err
			}
			pin(fSizes+"."+f, old, had)
			if had {
				vdelta -= old
				unset = append(unset, bson.E{Key: fValues + "." + f, Value: ""}, bson.E{Key: fSizes + "." + f, Value: ""})
			}
		}
	}

	var udelta int64
	if c.SetUserID {
		if r.User != nil {
			filter = append(filter, bson.E{Key: fUser, Value: binData(r.User)})
		} else {
			filter = append(filter, bson.E{Key: fUser, Value: absent})
		}
		udelta = int64(len(c.UserID) - len(r.User))
		if c.UserID == "" {
			unset = append(unset, bson.E{Key: fUser, Value: ""})
		} else {
			set = append(set, bson.E{Key: fUser, Value: binData([]byte(c.UserID))})
		}
	}

	var adelta int64
	if c.SetAttrs {
		attrs, n := attrsDoc(c.Attrs)
		filter = append(filter, bson.E{Key: fAttrSize, Value: r.AttrSize})
		adelta = n - r.AttrSize
		set = append(set, bson.E{Key: fAttrSize, Value: n})
		if attrs == nil {
			unset = append(unset, bson.E{Key: fAttrs, Value: ""})
		} else {
			set = append(set, bson.E{Key: fAttrs, Value: attrs})
		}
	}

	delta := vdelta + udelta + adelta
	if err := s.tooLarge(r.Size + delta); err != nil {
		return nil, nil, err
	}
	// The size check, exact at the write whatever came between.
	filter = append(filter, bson.E{Key: fSize, Value: bson.D{{Key: "$lte", Value: int64(s.cfg.maxRecordSize) - delta}}})

	if !c.LastSeen.IsZero() {
		set = append(set, bson.E{Key: fLastSeen, Value: recordcodec.UnixNano(c.LastSeen)})
	}
	if !c.Expires.IsZero() {
		e := recordcodec.UnixNano(c.Expires)
		set = append(set, bson.E{Key: fExpires, Value: e}, bson.E{Key: fReapAt, Value: reapAt(e)})
	}
	inc := bson.D{{Key: fVersion, Value: int64(step)}}
	if delta != 0 {
		inc = append(inc, bson.E{Key: fSize, Value: delta})
	}
	if vdelta != 0 {
		inc = append(inc, bson.E{Key: fValSize, Value: vdelta})
	}
	update = bson.D{{Key: "$inc", Value: inc}}
	if len(set) > 0 {
		update = append(update, bson.E{Key: "$set", Value: set})
	}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	return filter, update, nil
}

// stateProjection is what Touch and Move read to explain a write that did
// not match.
var stateProjection = bson.D{{Key: fExpires, Value: 1}, {Key: fVersion, Value: 1}, {Key: fMovedTo, Value: 1}, {Key: fSealed, Value: 1}}

// Touch implements [store.Store] in one updateOne, filtered on a live
// record that is not a tombstone.
func (s *Store) Touch(ctx context.Context, id string, lastSeen, expires time.Time) error {
	dl := callerDeadline(ctx)
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return store.ErrNotFound
	}
	e := recordcodec.UnixNano(expires)
	update := bson.D{
		{Key: "$set", Value: bson.D{{Key: fLastSeen, Value: recordcodec.UnixNano(lastSeen)}, {Key: fExpires, Value: e}, {Key: fReapAt, Value: reapAt(e)}}},
		{Key: "$inc", Value: bson.D{{Key: fVersion, Value: int64(versionstep.Next())}}},
	}
	for range maxAttempts {
		now := s.now()
		if s.late(dl) {
			return errLate
		}
		res, err := s.coll.UpdateOne(ctx, bson.D{
			{Key: fID, Value: id},
			{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}},
			{Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}},
		}, update)
		if err != nil {
			return s.wrap("touch", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		r, err := s.readMeta(ctx, id, stateProjection)
		if err != nil {
			return s.wrap("touch", err)
		}
		if err := r.outcome(now); err != nil {
			return err
		}
		// Live now: created again in between. Touch that one.
	}
	return store.ErrConflict
}

// Move implements [store.Store] in one updateOne filtered on a live record,
// not a tombstone, of version ifVersion (any if 0): the tombstone keeps
// Created and LastSeen, drops values, attributes and user id (so it leaves
// the user index), and takes the next version.
//
// A Move that does not match and finds a tombstone to m.To, live or
// expired (but not yet deleted), returns nil: m.To is a fresh ID, so that
// tombstone is this Move's own, run before and its reply lost. A logout's
// Move (m.To the record's own ID) likewise returns nil on the tombstone
// DeleteUser left, whose target is that ID too (stored as endedTo): the
// session has ended, as the logout wanted.
func (s *Store) Move(ctx context.Context, id string, m store.Moved, expires time.Time, ifVersion uint64) error {
	dl := callerDeadline(ctx)
	ctx, cancel, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	if !validID(id) {
		return store.ErrNotFound
	}
	if !validID(m.To) {
		return fmt.Errorf("mongostore: move: %w", errInvalidID)
	}
	e := recordcodec.UnixNano(expires)
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: fMovedTo, Value: m.To}, {Key: fSealed, Value: binData(m.Sealed)},
			{Key: fExpires, Value: e}, {Key: fReapAt, Value: reapAt(e)},
			{Key: fSize, Value: int64(0)}, {Key: fValSize, Value: int64(0)}, {Key: fAttrSize, Value: int64(0)},
		}},
		{Key: "$unset", Value: bson.D{{Key: fValues, Value: ""}, {Key: fSizes, Value: ""}, {Key: fUser, Value: ""}, {Key: fAttrs, Value: ""}}},
		{Key: "$inc", Value: bson.D{{Key: fVersion, Value: int64(1)}}},
	}
	for range maxAttempts {
		now := s.now()
		filter := bson.D{
			{Key: fID, Value: id},
			{Key: fMovedTo, Value: bson.D{{Key: "$exists", Value: false}}},
			{Key: fExpires, Value: bson.D{{Key: "$gt", Value: now}}},
		}
		if ifVersion != 0 {
			filter = append(filter, bson.E{Key: fVersion, Value: int64(ifVersion)})
		}
		if s.late(dl) {
			return errLate
		}
		res, err := s.coll.UpdateOne(ctx, filter, update)
		if err != nil {
			return s.wrap("move", err)
		}
		if res.MatchedCount == 1 {
			return nil
		}
		r, err := s.readMeta(ctx, id, stateProjection)
		if err != nil {
			return s.wrap("move", err)
		}
		if r != nil && r.MovedTo != nil && *r.movedTo() == m.To {
			return nil // our own tombstone, or DeleteUser's for a logout's
		}
		if err := r.outcome(now); err != nil {
			return err
		}
		if ifVersion != 0 && uint64(r.Version) != ifVersion {
			return store.ErrConflict
		}
		// Live, of the right version, not a tombstone: it changed in
		// between (created again). Try again.
	}
	return store.ErrConflict
}

// findAndUpdate runs one findOneAndUpdate and returns the version it wrote,
// or mongo.ErrNoDocuments if the filter matched nothing. The reply carries
// the version only (a projection), except on a server that refuses
// projections in findAndModify (FerretDB answers NotImplemented): the store
// notes that once and from then on takes the whole document back, values
// included, and reads the version from it.
func (s *Store) findAndUpdate(ctx context.Context, filter, update bson.D) (uint64, error) {
	var out struct {
		Version int64 `bson:"ver"`
	}
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if !s.noFAMProjection.Load() {
		err := s.coll.FindOneAndUpdate(ctx, filter, update, opts.SetProjection(bson.D{{Key: fVersion, Value: 1}})).Decode(&out)
		if !isNotImplemented(err) {
			return uint64(out.Version), err
		}
		if !s.noFAMProjection.Swap(true) {
			s.cfg.log.Warn("mongostore: the server refuses a projection in findAndModify; commits read the whole record back",
				"collection", s.coll.Name(), "err", err)
		}
		opts = options.FindOneAndUpdate().SetReturnDocument(options.After)
	}
	err := s.coll.FindOneAndUpdate(ctx, filter, update, opts).Decode(&out)
	return uint64(out.Version), err
}

// isNotImplemented reports a server's NotImplemented (code 238), FerretDB's
// answer to what it lacks.
func isNotImplemented(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(238)
}
