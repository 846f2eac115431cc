package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/internal/recordcodec"
	"github.com/tether-go/tether/store"
)

// fetchRecords reads the record items of ids, a batch at a time. IDs that
// cannot be keys (only a corrupt index holds them) are left out, as missing.
func (s *Store) fetchRecords(ctx context.Context, ids []string) (map[string]*memcache.Item, error) {
	out := make(map[string]*memcache.Item, len(ids))
	keys := make([]string, 0, min(len(ids), fetchBatch))
	byKey := make(map[string]string, min(len(ids), fetchBatch))
	for chunk := range slices.Chunk(ids, fetchBatch) {
		keys, byKey = keys[:0], clearMap(byKey)
		for _, id := range chunk {
			if key, ok := s.recordKey(id); ok {
				keys = append(keys, key)
				byKey[key] = id
			}
		}
		if len(keys) == 0 {
			continue
		}
		var items map[string]*memcache.Item
		err := s.call(ctx, func() (err error) {
			items, err = s.client.GetMulti(keys)
			return err
		})
		if err != nil {
			return nil, err
		}
		for key, it := range items {
			if id, ok := byKey[key]; ok {
				out[id] = it
			}
		}
	}
	return out, nil
}

func clearMap[M ~map[K]V, K comparable, V any](m M) M {
	clear(m)
	return m
}

// session decodes it, one of user's indexed sessions, without copying its
// values, and reports whether it is a live session of user: there,
// decodable, not expired, not a tombstone, naming user.
func (s *Store) session(ctx context.Context, user string, it *memcache.Item, now time.Time) (*store.Record, bool) {
	if it == nil {
		return nil, false
	}
	rec, err := recordcodec.UnmarshalMeta(it.Value)
	if err != nil {
		err = fmt.Errorf("%w %s: %w", ErrCorrupt, it.Key, err)
		s.logger().WarnContext(ctx, "memcachestore: user index names a corrupt record", "err", err)
		return nil, false
	}
	return rec, rec.Live(now) && rec.Moved == nil && rec.UserID == user
}

// UserSessions implements [store.Store]. It reads the user's index and the
// records it names (one round trip for the index, one per 32 sessions per
// server), and drops from the index, best effort, the entries of sessions
// that ended. A session that rotated after the index was read is followed
// from its old record's tombstone to its new record, and listed there (one
// more read per rotation followed).
//
// A session that expired by this store's clock less than a minute ago is
// not returned, but keeps its entry: a node whose clock runs behind this
// one's still sees it live and may extend it with a commit, which reads the
// index only every 30 seconds and so would not put the entry back in time.
// The session would then be live but unlisted, and DeleteUser ("log out
// everywhere") would leave it live. Entries of sessions that expired longer
// ago are dropped.
//
// The attributes ([store.Info.Attrs]) come from the records themselves:
// memcached cannot read part of an item, so the whole records cross the
// wire, as they did before attributes existed (no round trip is added), but
// their values are checked, not copied ([recordcodec.UnmarshalMeta]). A
// separate item of attributes would have saved bytes on the wire at the
// cost of a second write per change of attributes that could be evicted, or
// left stale by a lost write, independently of the record.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if userID == "" {
		return nil, nil
	}
	it, x, err := s.readIndex(ctx, s.indexKey(userID))
	if err != nil || x == nil {
		return nil, wrap("user sessions", err)
	}
	if s.cfg.afterIndex != nil {
		s.cfg.afterIndex()
	}
	now := s.now()
	stale := map[string]int64{}
	listed := make(map[string]bool, len(x.entries))
	infos, err := s.listEntries(ctx, userID, x.entries, listed, stale, now)
	if errors.Is(err, errStillRotating) {
		// A chain longer than maxFollowHops: a device rotating faster than
		// the listing reads, or old tombstones behind an entry that
		// lingered. The index as it is now names the head of every chain
		// that is still going (a rotation indexes its new record before it
		// writes it); if it names no session the first read did not, the
		// chain is history and the listing is complete without it.
		var fresh map[string]int64
		if fresh, err = s.unseenEntries(ctx, userID, listed); fresh != nil {
			var more []store.Info
			more, err = s.listEntries(ctx, userID, fresh, listed, stale, now)
			infos = append(infos, more...)
		}
	}
	if len(stale) > 0 {
		// Drop an entry only if nobody re-added it since we read it.
		err := s.unindex(ctx, userID, it, x, func(id string, added int64) bool {
			a, ok := stale[id]
			return ok && a == added
		})
		if err != nil {
			s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "clean", "err", err)
		}
	}
	if errors.Is(err, errStillRotating) {
		return nil, wrap("user sessions", fmt.Errorf("a session of the user rotated %d times while it was being listed: %w", maxFollowHops, store.ErrConflict))
	}
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	return infos, nil
}

// listEntries lists the live sessions of user among the index entries
// (ID → when added), following those that rotated since (see follow), and
// notes in stale the entries that can go. It returns errStillRotating, with
// what it listed, when a chain outran maxFollowHops.
func (s *Store) listEntries(ctx context.Context, userID string, entries map[string]int64, listed map[string]bool, stale map[string]int64, now time.Time) ([]store.Info, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(entries)))
	if err != nil {
		return nil, err
	}
	var infos []store.Info
	var moved []string // where the sessions that rotated since the index read went
	for id := range entries {
		// Only a record that was read is done with: an entry whose record
		// is not there yet may belong to a rotation that writes it next,
		// and a tombstone read after that must lead the chase to it.
		if items[id] != nil {
			listed[id] = true
		}
	}
	for id, added := range entries {
		rec, live := s.session(ctx, userID, items[id], now)
		switch {
		case live:
			infos = append(infos, rec.Info(id))
		case now.Unix()-added > indexGrace && !mayBeLive(rec, userID, now):
			stale[id] = added
		}
		if to := movedTo(id, rec); to != "" && !listed[to] {
			moved = append(moved, to)
		}
	}
	return s.follow(ctx, userID, moved, listed, infos, now)
}

// errStillRotating reports a chain of rotations longer than maxFollowHops.
var errStillRotating = errors.New("still rotating")

// movedTo is the ID the rotation tombstone rec, read under id, forwards to,
// or "" for anything else (a live session, a missing or ended record: a
// logout's tombstone forwards to its own ID).
func movedTo(id string, rec *store.Record) string {
	if rec == nil || rec.Moved == nil || rec.Moved.To == id {
		return ""
	}
	return rec.Moved.To
}

// follow adds to infos the sessions of user that the index's sessions
// rotated to after UserSessions read the index. A rotation creates and
// indexes its new record, then moves the old one: one that completes
// between the index read and the record reads leaves the old record a
// tombstone and the new one missing from the index as read, and a listing
// without it would be empty with the device logged in ("log out
// everywhere", which repeats until the listing is empty, would stop
// there). listed holds the IDs already read; follow adds those it reads.
// Each hop reads the records the previous one found moved (a GetMulti per
// 32 per server), up to maxFollowHops; a chain longer than that is reported
// with errStillRotating (UserSessions then reads the index again).
func (s *Store) follow(ctx context.Context, user string, ids []string, listed map[string]bool, infos []store.Info, now time.Time) ([]store.Info, error) {
	for hop := 0; len(ids) > 0; hop++ {
		if hop == maxFollowHops {
			return infos, errStillRotating
		}
		items, err := s.fetchRecords(ctx, ids)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, id := range ids {
			if listed[id] {
				continue
			}
			if items[id] != nil {
				listed[id] = true // read: a chain never reads a record twice
			}
			rec, live := s.session(ctx, user, items[id], now)
			if live {
				infos = append(infos, rec.Info(id))
			} else if to := movedTo(id, rec); to != "" && !listed[to] && !slices.Contains(next, to) {
				next = append(next, to)
			}
		}
		ids = next
	}
	return infos, nil
}

// DeleteUser implements [store.Store]. Each live session of the user is
// ended as a logout ends it: its record is swapped, with a compare-and-swap
// against the item read, for a tombstone that forwards nothing
// (Moved{To: its own ID}, no Sealed), with no values, user id or
// attributes, the record's version plus one, and the record's Expires, which
// is also the item's expiry in memcached (as Move sets its tombstones'). A
// request in flight with the session's token that commits or touches after
// DeleteUser then gets a [*store.MovedError] (the session ended: its changes
// are dropped), not [store.ErrNotFound], which the session layer reads as
// "expired before you came" and answers, for a request that only writes, by
// saving the changes in a new session. Created and LastSeen are kept, as
// Move keeps them. The tombstone names no user: UserSessions does not list
// it, and a later DeleteUser leaves it alone and does not count it.
//
// The compare-and-swap is what makes it safe against writes in flight. A
// commit or touch that read the record before the tombstone landed fails its
// own swap, reads again and finds the tombstone: it cannot write the session
// back. One that landed first makes DeleteUser's swap fail: DeleteUser reads
// the record again and ends it at its new version, up to [WithCASRetries]
// attempts, then fails with an error matching [store.ErrConflict] rather than
// leave the session live. A session that another request moved to another
// user meanwhile is left alone.
//
// A session that rotated after the index was read is followed from its
// tombstone to its new record and ended there: a rotation creates (and
// indexes) its new record before it moves the old one, so every session of
// the user that existed when the index was read ends, and none escapes to a
// record the read did not see. A rotation whose Move comes after the old
// record was ended finds the tombstone and fails (the session layer then
// discards its new record). A session that keeps rotating faster than it is
// followed fails the call with an error matching [store.ErrConflict] rather
// than survive it. The tombstones DeleteUser leaves point at themselves, so
// the chase stops at them.
//
// Its round trips are those deleting the records would take: one read of
// the index, one GetMulti per 32 sessions per server, one swap per live
// session (more only when a write races it), one read per rotation followed
// (and the swap that ends the session it reaches), and the index clean-up.
// The ended sessions' entries leave the index whatever their age (their
// records can never name the user again); the entries of dead sessions
// leave it once past the grace period (see the package documentation, "User
// index").
//
// The count is of the live sessions this call ended. A session whose
// ending swap was carried out but whose reply was lost is counted: the
// tombstone's item flags hold a mark drawn for this call (see endMark), and
// the retry that finds the tombstone with that mark knows it is its own. A
// session that was already gone, expired or ended (by a logout or another
// DeleteUser, whose tombstones carry another mark or none) when the call read
// it is not.
//
// A session that expired by this store's clock less than a minute ago is
// ended too, but not counted: a node whose clock runs behind this one's
// still sees it live, and would otherwise extend it with a touch or a commit
// after the user was logged out everywhere. Its tombstone keeps its expiry,
// so it lasts on that node exactly as long as the session would have. Older
// records are left to expire, and their entries leave the index.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if userID == "" {
		return 0, nil
	}
	_, x, err := s.readIndex(ctx, s.indexKey(userID))
	if err != nil || x == nil {
		return 0, wrap("delete user", err)
	}
	e := ender{user: userID, mark: endMark(), seen: make(map[string]bool, len(x.entries))}
	now := s.now()
	drop := map[string]int64{} // id → the entry's time; -1: any
	ended, err := s.endEntries(ctx, &e, x.entries, drop, now)
	if errors.Is(err, errStillRotating) {
		// A chase longer than maxFollowHops: a device rotating faster than
		// it is followed, or old tombstones behind an entry that
		// lingered. The index as it is now names the head of every chain
		// still going; if it names no session the first read did not, the
		// chain is history, and every session has been dealt with.
		var fresh map[string]int64
		if fresh, err = s.unseenEntries(ctx, userID, e.seen); fresh != nil {
			var n int
			n, err = s.endEntries(ctx, &e, fresh, drop, now)
			ended += n
		}
	}
	if len(drop) > 0 {
		err := s.unindex(ctx, userID, nil, nil, func(id string, added int64) bool {
			a, ok := drop[id]
			return ok && (a == -1 || a == added)
		})
		if err != nil {
			s.logger().WarnContext(ctx, "memcachestore: user index clean-up failed", "op", "delete user", "err", err)
		}
	}
	if errors.Is(err, errStillRotating) {
		return ended, wrap("delete user", fmt.Errorf("a session of the user rotated %d times while it was being deleted: %w", maxFollowHops, store.ErrConflict))
	}
	return ended, err
}

// endEntries ends the live sessions of e.user among the index entries (ID
// → when added), following those that rotated since (see endMoved), and
// notes in drop the entries that can go. A chase longer than maxFollowHops
// does not stop it: it ends the others, and returns errStillRotating with
// its count. Any other error stops it.
func (s *Store) endEntries(ctx context.Context, e *ender, entries map[string]int64, drop map[string]int64, now time.Time) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	ids := slices.Collect(maps.Keys(entries))
	items, err := s.fetchRecords(ctx, ids)
	if err != nil {
		return 0, wrap("delete user", err)
	}
	for _, id := range ids {
		// An ID whose record was not there is not handled here: a
		// rotation indexes its new record before it writes it, and may
		// move the old record there before the loop ends it, and the
		// chase must then end the new one.
		if items[id] != nil {
			e.seen[id] = true
		}
	}
	ended := 0
	var rotating error
	for _, id := range ids {
		done, live, to := false, false, ""
		if it := items[id]; it != nil {
			if done, live, to, err = s.endSession(ctx, e, id, it.Key, it); err != nil {
				return ended, outcome("delete user", err)
			}
		}
		switch added := entries[id]; {
		case done:
			ended += boolInt(live)
			drop[id] = -1
		case now.Unix()-added > indexGrace:
			drop[id] = added
		}
		n, err := s.endMoved(ctx, e, to)
		ended += n
		if errors.Is(err, errStillRotating) {
			rotating = err
		} else if err != nil {
			return ended, err
		}
	}
	return ended, rotating
}

// ender is one DeleteUser call's state.
type ender struct {
	user string
	// mark goes into the item flags of every tombstone this call leaves,
	// so that it recognises its own (see endMark).
	mark uint32
	// seen holds the IDs already handled: those the index listed whose
	// records the first read found, and those a chase reached.
	seen map[string]bool
}

// endMark returns a mark for the tombstones of one DeleteUser call: a
// random non-zero number that the call stores in the tombstones' item
// flags. Memcached keeps an item's flags as opaque bits, and a tombstone
// needs none of its own: a live record's flags hold its user index's
// deadline (see ensureIndexed), but a tombstone names no user, and Move
// writes its tombstones with flags 0. A retry that finds a tombstone
// pointing at its own ID with the call's mark found its own swap, carried
// out with its reply lost, and counts the session; one with another mark is
// another call's, or a logout's, and is not counted. Two calls draw the same
// mark once in 2³² times.
//
// The tombstone itself cannot carry the mark: it must be exactly a logout's
// (Moved{To: its own ID}, no Sealed), so the random tag other writes leave
// in a tombstone (swapRecord) is not available.
func endMark() uint32 { return 1 + rand.N(uint32(math.MaxUint32)) }

// endGrace is how long after a session expired by the caller's clock
// DeleteUser still ends it, rather than leave it to expire, and the index
// clean-ups (UserSessions, prune) still keep its entry: a node whose clock
// runs behind the caller's still sees it live until then, and would extend
// it with a touch or a commit, after "log out everywhere", and a
// UserSessions on that node would list it. A minute, as the SQL stores'
// reaper grace, is well above the skew between application hosts that the
// user index already assumes (see indexGrace).
const endGrace = time.Minute

// mayBeLive reports whether rec, read at now by this store's clock, is a
// session of user that some node may still see live: live by now, or
// expired less than endGrace ago, as a node whose clock runs behind sees it.
// DeleteUser ends such a session, and the index clean-ups keep its entry,
// however old the entry is: with the entry gone, a slower node's commit
// (which reads the index only every indexCheckEvery) could extend the
// session unlisted, out of DeleteUser's reach. A nil rec (missing, or
// corrupt) is not.
func mayBeLive(rec *store.Record, user string, now time.Time) bool {
	return rec != nil && rec.Moved == nil && rec.UserID == user && rec.Live(now.Add(-endGrace))
}

// maxFollowHops bounds how many tombstones DeleteUser follows from one
// indexed record: each is a rotation that completed while the previous one
// was read.
const maxFollowHops = 32

// errNotUsers stops endSession's swap: the record is not a session of the
// user to end (see endSession).
var errNotUsers = errors.New("not a live session of the user")

// errEndedHere stops endSession's swap: the record is the tombstone this
// DeleteUser call left, by a swap whose reply was lost.
var errEndedHere = errors.New("ended by this call")

// endMoved follows a session from the tombstone its indexed record became
// to wherever it rotated since, and ends it there. It reads one record per
// hop: a rotation takes several round trips, so the chase gains on the
// session at every hop. It returns how many live sessions it ended (0 or
// 1: one it ends within endGrace after its expiry is not counted). A
// tombstone that forwards to itself (a logout's, or one DeleteUser left) is
// in e.seen or ends the chase there.
func (s *Store) endMoved(ctx context.Context, e *ender, to string) (int, error) {
	for hop := 0; to != "" && !e.seen[to]; hop++ {
		if hop == maxFollowHops {
			return 0, errStillRotating
		}
		e.seen[to] = true
		key, valid := s.recordKey(to)
		if !valid {
			return 0, nil // a swap's tag, not a record
		}
		done, live, next, err := s.endSession(ctx, e, to, key, nil)
		if err != nil || done {
			return boolInt(live), outcome("delete user", err)
		}
		to = next
	}
	return 0, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// endSession ends the record of id, under key, if it is a session of e.user
// that is live, or expired by the store's clock less than endGrace ago (a
// node whose clock runs behind may still see it live): it swaps it for a
// tombstone that forwards nothing, as a logout leaves it (see DeleteUser),
// with e.mark in its item flags. The swap is a
// compare-and-swap against the item as read (first, as the caller read it,
// or read here if nil): if any write came between, it reads the record
// again and decides again, up to [WithCASRetries] attempts, then fails with
// an error matching [store.ErrConflict]. So a commit racing it either lands
// first, and is ended with the session, or finds the tombstone; it never
// writes the session back over it.
//
// It reports whether it ended the session (also when it finds its own
// tombstone, left by a swap whose reply was lost), whether the session was
// live by the store's clock when it did (the count DeleteUser returns is of
// those), and, if the record is another tombstone, the ID it moved to, where
// the session may live on.
//
// Skipping a session that expired by the store's clock a moment ago would
// let it survive: the store's clock may run ahead of another node's, which
// then extends the session with a touch or a commit. The tombstone keeps the
// record's Expires, in the record and as the item's expiry in memcached, so
// every node sees it for as long as it saw the session.
func (s *Store) endSession(ctx context.Context, e *ender, id, key string, first *memcache.Item) (done, live bool, to string, err error) {
	// The tag is never written: every tombstone this swap writes keeps the
	// record's Expires, so swapRecord leaves no marker (it writes one only
	// for a write that ends a record live by its clock). The mark in the
	// flags plays its part.
	_, err = s.swapRecord(ctx, "delete user", key, newTag(), first, func(rec *store.Record, flags uint32, now time.Time) (*store.Record, uint32, error) {
		to = ""
		if rec != nil && rec.Moved != nil {
			if rec.Moved.To == id && !rec.Moved.Forwards() && flags == e.mark {
				// live stays as the attempt whose swap this is found it.
				return nil, 0, errEndedHere
			}
			to = rec.Moved.To
		}
		if !mayBeLive(rec, e.user, now) {
			return nil, 0, errNotUsers
		}
		live = rec.Live(now)
		return rec.Ended(id), e.mark, nil
	})
	switch {
	case err == nil, errors.Is(err, errEndedHere):
		return true, live, "", nil
	case errors.Is(err, errNotUsers):
		return false, false, to, nil
	case errors.Is(err, ErrCorrupt):
		s.logger().WarnContext(ctx, "memcachestore: user index names a corrupt record", "err", err)
		return false, false, "", nil
	}
	return false, false, "", err
}

// wrap prefixes err with the package and the operation, and keeps nil nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("memcachestore: %s: %w", op, err)
}

// unseenEntries reads userID's index again, after a walk of it found a chain
// of rotations longer than maxFollowHops, and returns its entries that seen
// lacks: the heads of the chains still going. With nil and a nil error (the
// index is gone) the walk's errStillRotating stands: the chain is unfinished.
// An empty map means the chain was history and the walk is complete.
func (s *Store) unseenEntries(ctx context.Context, userID string, seen map[string]bool) (map[string]int64, error) {
	_, again, err := s.readIndex(ctx, s.indexKey(userID))
	if err != nil {
		return nil, err
	}
	if again == nil {
		return nil, errStillRotating
	}
	fresh := map[string]int64{}
	for id, added := range again.entries {
		if !seen[id] {
			fresh[id] = added
		}
	}
	return fresh, nil
}
