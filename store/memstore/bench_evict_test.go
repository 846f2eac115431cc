package memstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// BenchmarkCommitEvicting creates anonymous sessions in a full store, as an
// anonymous flood does: every create evicts one record.
func BenchmarkCommitEvicting(b *testing.B) {
	const n = 10_000
	s := newStore(b, memstore.WithMaxEntries(n))
	now := time.Now()
	for i := range n {
		c := store.Change{Mode: store.Create, LastSeen: now, Expires: now.Add(time.Hour), Set: map[string][]byte{"cart": make([]byte, 200)}}
		if i < 100 {
			c.UserID = fmt.Sprint("user-", i)
		}
		if _, err := s.Commit(ctx, id(i), c); err != nil {
			b.Fatal(err)
		}
	}
	c := store.Change{Mode: store.Create, LastSeen: now, Set: map[string][]byte{"cart": make([]byte, 200)}}
	b.ReportAllocs()
	i := n
	for b.Loop() {
		c.Expires = now.Add(time.Hour + time.Duration(i))
		if _, err := s.Commit(ctx, id(i), c); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
