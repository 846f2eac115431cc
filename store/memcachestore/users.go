package memcachestore

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
// that ended.
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
	items, err := s.fetchRecords(ctx, slices.Collect(maps.Keys(x.entries)))
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	now := s.now()
	var infos []store.Info
	stale := map[string]int64{}
	for id, added := range x.entries {
		rec, live := s.session(ctx, userID, items[id], now)
		switch {
		case live:
			infos = append(infos, rec.Info(id))
		case now.Unix()-added > indexGrace:
			stale[id] = added
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
	return infos, nil
}

// DeleteUser implements [store.Store]. Each live session of the user is
// ended with a compare-and-swap, so a session that another request moved
// to another user meanwhile is left alone, and a commit racing the delete
// fails instead of bringing the session back. A session that rotated after
// the index was read is followed from its tombstone to its new record and
// ended there: a rotation creates (and indexes) its new record before it
// moves the old one, so every session of the user that existed when the
// index was read ends, and none escapes to a record the read did not see.
// A session that keeps rotating faster than it is followed fails the call
// rather than survive it.
//
// The count is of the sessions this call ended: a session whose ending swap
// was carried out but whose reply was lost is counted (the swap leaves a
// marker the resend recognises), and a session that was already gone when
// the call read it is not.
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
	ids := slices.Collect(maps.Keys(x.entries))
	items, err := s.fetchRecords(ctx, ids)
	if err != nil {
		return 0, wrap("delete user", err)
	}
	now := s.now()
	deleted := 0
	drop := map[string]int64{} // id → the entry's time; -1: any
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		seen[id] = true
	}
	for _, id := range ids {
		ok, to := false, ""
		if it := items[id]; it != nil {
			if ok, to, err = s.deleteSession(ctx, userID, it.Key, it); err != nil {
				return deleted, outcome("delete user", err)
			}
		}
		switch added := x.entries[id]; {
		case ok:
			deleted++
			drop[id] = -1
		case now.Unix()-added > indexGrace:
			drop[id] = added
		}
		n, err := s.deleteMoved(ctx, userID, to, seen)
		deleted += n
		if err != nil {
			return deleted, err
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
	return deleted, nil
}

// maxFollowHops bounds how many tombstones DeleteUser follows from one
// indexed record: each is a rotation that completed while the previous one
// was read.
const maxFollowHops = 32

// errNotUsers stops deleteSession's swap: the record is not a live session of
// the user.
var errNotUsers = errors.New("not a live session of the user")

// deleteMoved follows a session from the tombstone its indexed record
// became to wherever it rotated since, and ends it there. It reads one
// record per hop: a rotation takes several round trips, so the chase gains
// on the session at every hop. It returns how many live sessions it ended
// (0 or 1). seen holds the IDs already handled.
func (s *Store) deleteMoved(ctx context.Context, userID, to string, seen map[string]bool) (int, error) {
	for hop := 0; to != "" && !seen[to]; hop++ {
		if hop == maxFollowHops {
			return 0, wrap("delete user", fmt.Errorf("a session of the user rotated %d times while it was being deleted: %w", hop, store.ErrConflict))
		}
		seen[to] = true
		key, valid := s.recordKey(to)
		if !valid {
			return 0, nil // a swap's tag, not a record
		}
		ok, next, err := s.deleteSession(ctx, userID, key, nil)
		if err != nil || ok {
			return boolInt(ok), outcome("delete user", err)
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

// deleteSession ends the record under key if it is a live session of user,
// with a compare-and-swap that fails if the record changed since it was
// read (first, as the caller read it, or read here if nil); it then reads
// the record again and decides again. It reports whether it ended a live
// session, and, if the record is a tombstone, the ID it moved to, where the
// session may live on.
func (s *Store) deleteSession(ctx context.Context, user, key string, first *memcache.Item) (bool, string, error) {
	to := ""
	_, err := s.swapRecord(ctx, "delete user", key, newTag(), first, func(rec *store.Record, _ uint32, now time.Time) (*store.Record, uint32, error) {
		to = ""
		if rec != nil && rec.Moved != nil {
			to = rec.Moved.To
		}
		if rec == nil || !rec.Live(now) || rec.Moved != nil || rec.UserID != user {
			return nil, 0, errNotUsers
		}
		rec.Expires = time.Time{}
		rec.Version++
		return rec, 0, nil
	})
	switch {
	case err == nil:
		return true, "", nil
	case errors.Is(err, errNotUsers):
		return false, to, nil
	case errors.Is(err, ErrCorrupt):
		s.logger().WarnContext(ctx, "memcachestore: user index names a corrupt record", "err", err)
		return false, "", nil
	}
	return false, "", err
}

// wrap prefixes err with the package and the operation, and keeps nil nil.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("memcachestore: %s: %w", op, err)
}
