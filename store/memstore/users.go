package memstore

import (
	"context"
	"sync"

	"github.com/tether-go/tether/store"
)

// userIndex maps user ids to the ids of their records. It is exact: every
// write that changes a record's user id updates it while holding the record's
// shard lock, and shard locks are always taken before the index's lock. It may
// still name expired records until the janitor or a lookup removes them.
type userIndex struct {
	mu sync.Mutex
	m  map[string]map[string]struct{}
}

func (u *userIndex) add(user, id string) {
	if user == "" {
		return
	}
	u.mu.Lock()
	ids := u.m[user]
	if ids == nil {
		ids = make(map[string]struct{})
		u.m[user] = ids
	}
	ids[id] = struct{}{}
	u.mu.Unlock()
}

func (u *userIndex) remove(user, id string) {
	if user == "" {
		return
	}
	u.mu.Lock()
	if ids := u.m[user]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(u.m, user)
		}
	}
	u.mu.Unlock()
}

func (u *userIndex) ids(user string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	ids := make([]string, 0, len(u.m[user]))
	for id := range u.m[user] {
		ids = append(ids, id)
	}
	return ids
}

// UserSessions implements [store.Store]. It removes the expired records it
// comes across.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]store.Info, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	now := s.cfg.now()
	var infos []store.Info
	for _, id := range s.users.ids(userID) {
		sh := s.shard(id)
		sh.mu.Lock()
		if e := sh.m[id]; e != nil && e.rec.UserID == userID {
			if e.rec.Live(now) {
				infos = append(infos, e.rec.Info(id))
			} else {
				s.removeLocked(sh, id, e)
			}
		}
		sh.mu.Unlock()
	}
	return infos, nil
}

// DeleteUser implements [store.Store]. A session indexed under userID while
// DeleteUser runs may survive it.
func (s *Store) DeleteUser(ctx context.Context, userID string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	now := s.cfg.now()
	n := 0
	for _, id := range s.users.ids(userID) {
		sh := s.shard(id)
		sh.mu.Lock()
		if e := sh.m[id]; e != nil && e.rec.UserID == userID {
			if e.rec.Live(now) {
				n++
			}
			s.removeLocked(sh, id, e)
		}
		sh.mu.Unlock()
	}
	return n, nil
}
