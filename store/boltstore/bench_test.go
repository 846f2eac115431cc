package boltstore_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

// benchValues is a typical session: a user id, a CSRF token, a few small
// values.
func benchValues() map[string][]byte {
	m := make(map[string][]byte, 5)
	for i := range 5 {
		m[fmt.Sprintf("key-%02d", i)] = bytes.Repeat([]byte{byte('a' + i)}, 40)
	}
	return m
}

func benchCreate(b *testing.B, s *boltstore.Store, i int) string {
	id := fixtureID(i)
	now := time.Now()
	_, err := s.Commit(b.Context(), id, store.Change{Mode: store.Create, Created: now, LastSeen: now,
		Expires: now.Add(time.Hour), UserID: "bench-user", SetUserID: true, Set: benchValues()})
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkCommit: an update of one key, durable (fdatasync per
// transaction), by 1 and by 50 concurrent writers, each on its own session,
// through each way of committing: one transaction per write ("serial"),
// bbolt's DB.Batch, and the store's group commit (the default). ns/op is
// wall time per write, so with 50 writers it is the inverse of throughput.
func BenchmarkCommit(b *testing.B) {
	modes := []struct {
		name string
		opt  boltstore.Option
	}{
		{"serial", boltstore.WithSerialCommits()},
		{"boltbatch", boltstore.WithBoltBatch()},
		{"group", boltstore.WithGroupCommit()},
	}
	for _, m := range modes {
		for _, writers := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/writers=%d", m.name, writers), func(b *testing.B) {
				s := open(b, m.opt)
				change := store.Change{Mode: store.Update, Set: map[string][]byte{"n": []byte("1")}}
				start := s.Transactions()
				if writers == 1 {
					id := benchCreate(b, s, 0)
					start = s.Transactions()
					for b.Loop() {
						if _, err := s.Commit(b.Context(), id, change); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					var next atomic.Int64
					ids := make([]string, writers*2)
					for i := range ids {
						ids[i] = benchCreate(b, s, i)
					}
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.ResetTimer()
					start = s.Transactions()
					b.RunParallel(func(pb *testing.PB) {
						id := ids[int(next.Add(1)-1)%len(ids)]
						for pb.Next() {
							if _, err := s.Commit(b.Context(), id, change); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/float64(s.Transactions()-start), "writes/txn")
			})
		}
	}
}

// BenchmarkLoad: a read transaction and the record's decoding.
func BenchmarkLoad(b *testing.B) {
	s := open(b)
	id := benchCreate(b, s, 0)
	b.ReportAllocs()
	for b.Loop() {
		rec, err := s.Load(b.Context(), id)
		if err != nil || rec == nil {
			b.Fatal(rec, err)
		}
	}
}
