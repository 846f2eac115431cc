package mongostore

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// The benchmarks measure the store against the embedded FerretDB the tests
// start (SQLite, in the same process): figures of FerretDB, not of mongod,
// which keeps documents as BSON and updates them in place.

// benchValues returns n keys of size bytes each.
func benchValues(n, size int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[fmt.Sprintf("key-%02d", i)] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	return m
}

// benchRecords are the record shapes the other stores' benchmarks use: a
// typical session (user id, a CSRF token, a few small values) and a heavy
// one (a 10 KB cart).
var benchRecords = []struct {
	name   string
	values map[string][]byte
}{
	{"small", benchValues(5, 40)},
	{"10KB", benchValues(10, 1000)},
}

func benchStore(b *testing.B) *Store {
	return newStore(b, connect(b, startFerret(b).URI()))
}

func benchCreate(b *testing.B, s *Store, values map[string][]byte) string {
	id := newID()
	now := time.Now()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "bench-user", Set: values}
	if _, err := s.Commit(b.Context(), id, c); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchmarkLoad: one find of the record's document.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b)
	for _, r := range benchRecords {
		b.Run(r.name, func(b *testing.B) {
			id := benchCreate(b, s, r.values)
			b.ReportAllocs()
			for b.Loop() {
				rec, err := s.Load(b.Context(), id)
				if err != nil || rec == nil {
					b.Fatal(rec, err)
				}
			}
		})
	}
}

// BenchmarkCommit: an Update setting one key (a metadata read, then one
// filtered update), a Touch and a Create.
func BenchmarkCommit(b *testing.B) {
	s := benchStore(b)
	for _, r := range benchRecords {
		b.Run(r.name, func(b *testing.B) {
			id := benchCreate(b, s, r.values)
			value := []byte("0123456789012345678901234567890123456789")
			b.ReportAllocs()
			for b.Loop() {
				c := store.Change{Mode: store.Update, Set: map[string][]byte{"key-00": value}}
				if _, err := s.Commit(b.Context(), id, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("touch", func(b *testing.B) {
		id := benchCreate(b, s, benchRecords[0].values)
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			if err := s.Touch(b.Context(), id, now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchCreate(b, s, benchRecords[0].values)
		}
	})
}
