package memcachestore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memcachestore"
)

// benchStore returns a store on a fresh memcached and a session in it with
// ten 100-byte values, a typical small session, indexed under user.
func benchStore(b *testing.B, user string) (*memcachestore.Store, string) {
	b.Helper()
	srv := testserver.Memcached(b)
	client := memcachedClient(b, srv.Addr())
	s := memcachestore.New(client, memcachestore.WithKeyPrefix(prefix()))
	values := map[string][]byte{}
	for i := range 10 {
		values[fmt.Sprintf("key-%d", i)] = make([]byte, 100)
	}
	id := newID()
	now := time.Now()
	_, err := s.Commit(b.Context(), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), Set: values, SetUserID: true, UserID: user})
	if err != nil {
		b.Fatal(err)
	}
	return s, id
}

func BenchmarkLoad(b *testing.B) {
	s, id := benchStore(b, "")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if rec, err := s.Load(ctx, id); err != nil || rec == nil {
			b.Fatal(rec, err)
		}
	}
}

func BenchmarkVersion(b *testing.B) {
	s, id := benchStore(b, "")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := s.Version(ctx, id); err != nil || v == 0 {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkCommit is a request's write: one value set, the idle deadline
// extended; a gets and a cas.
func BenchmarkCommit(b *testing.B) {
	for _, user := range []string{"", "alice"} {
		name := "anonymous"
		if user != "" {
			name = "user"
		}
		b.Run(name, func(b *testing.B) {
			s, id := benchStore(b, user)
			ctx := b.Context()
			value := make([]byte, 100)
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now()
				_, err := s.Commit(ctx, id, store.Change{Mode: store.Update, LastSeen: now, Expires: now.Add(time.Hour),
					Set: map[string][]byte{"key-0": value}})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTouch(b *testing.B) {
	s, id := benchStore(b, "alice")
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		if err := s.Touch(ctx, id, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
