package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// DeleteUser, which holds every shard's lock at once (ascending) and takes
// the user index's lock under them, racing eviction under tiny bounds (read
// locks shard by shard), the sweep, Close, rotations, deletes and
// UserSessions: nothing may hang (run with -race -timeout).
func TestDeleteUserRacingEvictionSweepCloseNoDeadlock(t *testing.T) {
	for iter := range 5 {
		ctx := context.Background()
		s := New(WithMaxEntries(50), WithMaxBytes(8000), WithCleanupInterval(time.Millisecond))
		var wg sync.WaitGroup
		stop := make(chan struct{})
		now := time.Now()
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(g), uint64(iter)))
				cur := fmt.Sprintf("g%d-0", g)
				n := 0
				for {
					select {
					case <-stop:
						return
					default:
					}
					user := fmt.Sprintf("u%d", r.IntN(3))
					exp := now.Add(time.Duration(r.IntN(20)) * time.Millisecond)
					if r.IntN(2) == 0 {
						exp = now.Add(time.Hour)
					}
					if r.IntN(4) == 0 {
						user = ""
					}
					n++
					next := fmt.Sprintf("g%d-%d", g, n)
					c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: exp, UserID: user, SetUserID: true}
					s.Commit(ctx, next, c)
					s.Move(ctx, cur, store.Moved{To: next}, now.Add(time.Minute), 0)
					s.Touch(ctx, next, now, exp)
					if r.IntN(5) == 0 {
						s.Delete(ctx, cur)
					}
					cur = next
					s.Load(ctx, cur)
				}
			}()
		}
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					u := fmt.Sprintf("u%d", (i+g)%3)
					s.DeleteUser(ctx, u)
					s.UserSessions(ctx, u)
				}
			}()
		}
		time.Sleep(30 * time.Millisecond)
		s.Close()
		close(stop)
		wg.Wait()
	}
}
