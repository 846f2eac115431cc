package memcachestore

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

// markerLife is how long memcached keeps the marker a write that ends a
// record leaves behind (see swapRecord). It only needs to outlive the
// write's own resend, a few command timeouts at most; nobody else can see
// the marker: it is dead by every clock.
const markerLife = 30 * time.Second

// decideFunc is one attempt of a write: given the record as read (nil if
// there is none, an expired one as it is), its item's flags (on a live
// record, the user index's deadline, see ensureIndexed; on a tombstone
// DeleteUser left, the call's mark, see endMark) and the store's time, it
// returns the record to write and the item's flags, or an error to stop the
// write with. It may change cur in place: cur was decoded for this attempt
// alone. A returned record whose Expires is not after now ends the record.
type decideFunc func(cur *store.Record, hint uint32, now time.Time) (next *store.Record, flags uint32, err error)

// swapped is the outcome of a successful swapRecord.
type swapped struct {
	// rec is the record as written, or as this write's own earlier swap
	// left it.
	rec *store.Record
	// from is the user the record named before the swap that landed, for
	// the caller's index clean-up; "" if there was none.
	from string
	// ended reports that the write ended the record (gave a live record
	// an expiry that has passed): nothing loadable is left under the key.
	ended bool
}

// swapRecord runs one write's compare-and-swap loop on the record under key:
// read the record with its CAS id, let decide say what to write, and swap
// it in; if another write came between, read again and decide again, up to
// [WithCASRetries] attempts, then fail with an error matching
// [store.ErrConflict]. The first attempt uses first instead of reading, if
// the caller already has the item.
//
// # Ending a record
//
// A live record whose new Expires has passed is not deleted: it is swapped
// for a marker, a tombstone that names tag, forwards nothing, has the zero
// expiry (dead by every node's clock: every reader treats it as missing) and
// that memcached drops after markerLife. So a write that ends a record can still
// recognise its own effect after its reply was lost, where an expired item
// would have left nothing to recognise (a resent cas then answers NOT_FOUND,
// and the write would report "not found" for a record it ended itself).
//
// # Recognising its own effect
//
// A connection that dies after memcached carried out a cas but before its
// reply arrived makes call send the cas again, which then fails (the item
// changed: ours). The loop reads again and finds a tombstone naming tag (a
// Move's tombstone or an ending write's marker): that is its own swap, and it
// reports success with what it finds. tag must be unique to this write: a
// Move passes its new ID, the others a fresh random tag ([newTag]). Any other
// write re-decides on top of its own landed change, which is what the
// contract asks of a resent update (the same delta applied again).
// DeleteUser's tombstone must be exactly a logout's, naming the record's own
// ID, so it cannot carry a tag: DeleteUser passes a fresh tag that it never
// writes, and its decide recognises its own tombstone by the mark it put in
// the item's flags (see endMark).
func (s *Store) swapRecord(ctx context.Context, op, key, tag string, first *memcache.Item, decide decideFunc) (swapped, error) {
	var (
		sent     bool   // a swap went out and may have landed unreported
		sentFrom string // the user the record named before the last swap sent
	)
	for attempt := range s.cfg.casRetries {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return swapped{}, err
			}
		}
		it, cur, err := s.readForSwap(ctx, key, first, attempt)
		if err != nil {
			return swapped{}, err
		}
		if s.cfg.afterRead != nil {
			s.cfg.afterRead(key)
		}
		now := s.now()
		if cur != nil && cur.Moved != nil && cur.Moved.To == tag {
			from := ""
			if sent {
				from = sentFrom
			}
			return swapped{rec: cur, from: from, ended: !cur.Live(now)}, nil
		}
		from := ""
		if cur != nil {
			from = cur.UserID
		}
		var hint uint32
		if it != nil {
			hint = it.Flags
		}
		// Before decide, which may change cur in place.
		wasLive := cur != nil && cur.Live(now)
		next, flags, err := decide(cur, hint, now)
		if err != nil {
			return swapped{}, err
		}
		if it == nil {
			// decide must refuse a missing record; never swap nothing.
			return swapped{}, store.ErrNotFound
		}
		item := &memcache.Item{Key: key, Flags: flags, Expiration: exptime(next.Expires), CasID: it.CasID}
		// A write to a record already expired by our clock ends nothing by
		// it (only DeleteUser makes one: a tombstone for a session that a
		// node whose clock runs behind ours may still see live, see
		// endSession). It is written as it is, to stay readable there.
		ended := wasLive && !next.Expires.After(now)
		if ended {
			next = &store.Record{Created: next.Created, LastSeen: next.LastSeen, Version: next.Version, Moved: &store.Moved{To: tag}}
			item.Flags, item.Expiration = 0, exptime(now.Add(markerLife))
			item.Value = recordcodec.Marshal(next)
		} else if item.Value, err = s.encode(next); err != nil {
			return swapped{}, err
		}
		sent, sentFrom = true, from
		err = s.call(ctx, func() error { return s.client.CompareAndSwap(item) })
		switch {
		case err == nil:
			return swapped{rec: next, from: from, ended: ended}, nil
		case tooLargeReply(err):
			return swapped{}, &serverTooLarge{size: len(item.Value), limit: s.cfg.maxItemSize}
		case !lostRace(err):
			return swapped{}, err
		}
	}
	return swapped{}, s.errConflict(op)
}

// readForSwap returns the item and record attempt starts from: first, if the
// caller gave one, on the first attempt; otherwise what is stored.
func (s *Store) readForSwap(ctx context.Context, key string, first *memcache.Item, attempt int) (*memcache.Item, *store.Record, error) {
	if attempt > 0 || first == nil {
		return s.getRecord(ctx, key)
	}
	rec, err := decodeRecord(first)
	if err != nil {
		return nil, nil, err
	}
	return first, rec, nil
}

// newTag returns a tag no other write uses, for swapRecord. It cannot be
// mistaken for a record ID (64 hex digits), which a Move's tag is.
func newTag() string { return "op:" + rand.Text() }
