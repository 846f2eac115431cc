package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tether-go/tether/store"
)

// userIndex maps user ids to the ids of their records. It is exact: every
// write that changes a record's user id updates it while holding the record's
// shard lock, and shard locks are always taken before the index's lock. It may
// still name expired records until a sweep or a lookup removes them.
//
// Most users have one session, so a user with one record id is kept in a map
// of its own: a string where userIDs is a slice, a set and a backing array
// (issue 20's growth run: 36 bytes less per session).
type userIndex struct {
	mu  sync.Mutex
	one map[string]string  // users with one record id
	m   map[string]userIDs // users with two or more
}

// reset empties the index; the caller holds u.mu or has not shared u yet.
func (u *userIndex) reset() {
	u.one, u.m = make(map[string]string), make(map[string]userIDs)
}

// fewIDs is how many record ids a user's entry keeps in a slice before it
// becomes a set. Most users have a handful of sessions: a slice of one id is
// 16 bytes where a Go map of one is about 200 (issue 20's growth run), and a
// scan of up to 16 ids is as fast as a hash lookup. A user with thousands of
// sessions still removes one in O(1).
const fewIDs = 16

// A user's set becomes a slice again when it drops to fewIDs/2 ids, and a
// slice gets a smaller backing array when it drops to a quarter of its
// capacity: a Go map keeps its buckets however many entries it lost, so a
// user who once had thousands of sessions and kept one would otherwise hold
// their memory as long as they stay logged in. The gap between fewIDs+1 (to
// a set) and fewIDs/2 (back to a slice) keeps a user who hovers at the
// boundary from converting on every write: each conversion follows at
// least fewIDs/2 writes, so removal stays O(1) amortized.

// userIDs is one user's record ids: few in a slice, or many in a set.
type userIDs struct {
	few  []string
	many map[string]struct{}
}

func (u *userIndex) add(user, id string) {
	if user == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	ids, ok := u.m[user]
	if !ok {
		switch first, ok := u.one[user]; {
		case !ok:
			u.one[user] = id
		case first != id:
			delete(u.one, user)
			u.m[user] = userIDs{few: []string{first, id}}
		}
		return
	}
	switch {
	case ids.many != nil:
		ids.many[id] = struct{}{}
		return
	case slices.Contains(ids.few, id):
		return
	case len(ids.few) < fewIDs:
		ids.few = append(ids.few, id)
	default:
		ids.many = make(map[string]struct{}, 2*fewIDs)
		for _, x := range ids.few {
			ids.many[x] = struct{}{}
		}
		ids.many[id] = struct{}{}
		ids.few = nil
	}
	u.m[user] = ids
}

func (u *userIndex) remove(user, id string) {
	if user == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	ids, ok := u.m[user]
	if !ok {
		if u.one[user] == id {
			delete(u.one, user)
		}
		return
	}
	if ids.many != nil {
		delete(ids.many, id)
		switch {
		case len(ids.many) == 0:
			delete(u.m, user)
		case len(ids.many) <= fewIDs/2:
			few := make([]string, 0, len(ids.many))
			for x := range ids.many {
				few = append(few, x)
			}
			u.m[user] = userIDs{few: few}
		}
		return
	}
	i := slices.Index(ids.few, id)
	if i < 0 {
		return
	}
	if len(ids.few) <= 2 {
		// A user in m has two ids or more: the one left moves to one.
		delete(u.m, user)
		if len(ids.few) == 2 {
			u.one[user] = ids.few[1-i]
		}
		return
	}
	// Swap with the last and shrink; the order of a user's ids means nothing.
	last := len(ids.few) - 1
	ids.few[i] = ids.few[last]
	ids.few[last] = "" // let the id's string go
	ids.few = ids.few[:last]
	if c := cap(ids.few); c > 4 && last <= c/4 {
		ids.few = slices.Clone(ids.few)
	}
	u.m[user] = ids
}

func (u *userIndex) ids(user string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids, ok := u.m[user]
	if !ok {
		if id, ok := u.one[user]; ok {
			return []string{id}
		}
		return nil
	}
	if ids.many == nil {
		return slices.Clone(ids.few)
	}
	out := make([]string, 0, len(ids.many))
	for id := range ids.many {
		out = append(out, id)
	}
	return out
}

// UserSessions implements [store.Store]. A record of the user that a
// rotation moved after the index was read is followed to the record the
// session lives in now, so a rotating device is listed under its new ID, not
// missed. It removes the expired records it comes across.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	now := s.now()
	var infos []store.Info
	listed := make(map[string]bool)
	ids := s.users.ids(userID)
	if s.afterIDs != nil {
		s.afterIDs()
	}
	for _, id := range ids {
		sh, id, e := s.current(id, userID)
		if e == nil {
			continue
		}
		switch {
		case !e.rec.Live(now):
			s.removeLocked(sh, id, e)
		case !listed[id]:
			listed[id] = true
			infos = append(infos, e.rec.Info(id))
		}
		sh.mu.Unlock()
	}
	return infos, nil
}

// DeleteUser implements [store.Store]. It ends the user's sessions (see
// deleteUserLocked) in two steps. First it ends the records the user's index
// names, one shard lock at a time, as any write takes them. Then it holds
// every shard's lock while it reads the index again and ends what is left, as
// Redis runs its script: no rotation can create a record of the user or move
// one in between, so every session of the user that existed when it began
// ends, and one logged in meanwhile is either ended or created after it. Only
// that second step blocks the store's other calls, and it ends only what
// rotations and logins indexed during the first: a user with a hundred
// thousand sessions (logins are not bounded per user) would otherwise stall
// every request for a quarter of a second.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := s.check(ctx); err != nil || userID == "" {
		return 0, err // nothing is indexed under "": no need to stop the store
	}
	now := s.now()
	n := 0
	for _, id := range s.users.ids(userID) {
		sh := s.shard(id)
		sh.mu.Lock()
		n += s.deleteUserLocked(sh, id, userID, now)
		sh.mu.Unlock()
	}
	if s.betweenDeletes != nil {
		s.betweenDeletes()
	}
	for i := range s.shards {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for i := range s.shards {
			s.shards[i].mu.Unlock()
		}
	}()
	for _, id := range s.users.ids(userID) {
		n += s.deleteUserLocked(s.shard(id), id, userID, now)
	}
	return n, nil
}

// deleteUserLocked ends the record under id if it is userID's, and returns 1
// if it was live. A live record becomes a tombstone that forwards nothing,
// as a logout leaves it, kept until the session would have expired, so that
// a request in flight with its token drops its changes rather than start a
// new session with them; an expired one is deleted. The caller holds sh.mu.
func (s *Store) deleteUserLocked(sh *shard, id, userID string, now time.Time) int {
	e := sh.m[id]
	if e == nil || e.rec.UserID != userID {
		return 0
	}
	if !e.rec.Live(now) {
		s.removeLocked(sh, id, e)
		return 0
	}
	// Smaller than the record, so only a closed store refuses it, and then
	// nothing is kept.
	if err := s.putLocked(sh, id, e, e.rec.Ended(id), e.user); err != nil {
		s.removeLocked(sh, id, e)
	}
	return 1
}

// maxChainHops bounds how many tombstones [Store.current] follows. Each hop
// is a rotation that completed while the previous hop was read; a device
// that outruns it is left out of the listing, as the store contract allows.
const maxChainHops = 32

// current follows id, a record indexed under userID when the index was read,
// along the tombstones rotations left, to the record the session lives in
// now. It returns that record's entry with its shard locked, or a nil entry
// (nothing locked) if the session ended, is no longer userID's, or kept
// rotating.
func (s *Store) current(id, userID string) (*shard, string, *entry) {
	for range maxChainHops {
		sh := s.shard(id)
		sh.mu.Lock()
		e := sh.m[id]
		switch {
		case e == nil:
		case e.rec.Moved != nil:
			if to := e.rec.Moved.To; to != "" && to != id {
				sh.mu.Unlock()
				id = to
				continue
			}
		case e.rec.UserID == userID:
			return sh, id, e
		}
		sh.mu.Unlock()
		return nil, "", nil
	}
	return nil, "", nil
}
