package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/redisstore"
)

// benchStore returns a store on a fresh single server and a session of five
// 100-byte values with a user, as a logged-in application might keep.
func benchStore(b *testing.B) (*redisstore.Store, string) {
	rdb := testserver.Redis(b)
	s := newStore(b, newClient(b, rdb.Addr()), redisstore.WithPolicyCheck(false))
	id := newID()
	values := map[string][]byte{}
	for i := range 5 {
		values[fmt.Sprintf("key-%d", i)] = make([]byte, 100)
	}
	now := time.Now()
	if _, err := s.Commit(context.Background(), id, store.Change{Mode: store.Create, UserID: "bench", Created: now, LastSeen: now, Expires: now.Add(time.Hour), Set: values}); err != nil {
		b.Fatal(err)
	}
	return s, id
}

// One HGETALL and the decoding of the hash.
func BenchmarkLoad(b *testing.B) {
	s, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rec, err := s.Load(ctx, id)
		if err != nil || rec == nil {
			b.Fatal(rec, err)
		}
	}
}

// An update of one value, with the request's new expiry: the commit script.
func BenchmarkCommit(b *testing.B) {
	s, id := benchStore(b)
	ctx := context.Background()
	value := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		c := store.Change{Mode: store.Update, Set: map[string][]byte{"key-1": value}, LastSeen: now, Expires: now.Add(time.Hour)}
		if _, err := s.Commit(ctx, id, c); err != nil {
			b.Fatal(err)
		}
	}
}

// A new anonymous session: the commit script in create mode.
func BenchmarkCreate(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	value := make([]byte, 100)
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		c := store.Change{Mode: store.Create, Set: map[string][]byte{"key": value}, Created: now, LastSeen: now, Expires: now.Add(time.Minute)}
		if _, err := s.Commit(ctx, newID(), c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTouch(b *testing.B) {
	s, id := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		if err := s.Touch(ctx, id, now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
