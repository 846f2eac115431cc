package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// The benchmarks every database store runs under the same names and record
// shapes, so that `make bench-stores` puts their figures side by side.

// BenchRecord is a record shape of the benchmarks.
type BenchRecord struct {
	Name   string
	Values map[string][]byte
}

// BenchRecords returns the record shapes: a typical session (a user id, a
// CSRF token, a few small values) and a heavy one (a 10 KB cart).
func BenchRecords() []BenchRecord {
	return []BenchRecord{
		{"small", benchValues(5, 40)},
		{"10KB", benchValues(10, 1000)},
	}
}

// benchValues returns n keys of size bytes each.
func benchValues(n, size int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[fmt.Sprintf("key-%02d", i)] = bytes.Repeat([]byte{byte('a' + i%26)}, size)
	}
	return m
}

func benchCreate(b *testing.B, s store.Store, values map[string][]byte) string {
	id := newID()
	now := time.Now()
	c := store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour), UserID: "bench-user", Set: values}
	if _, err := s.Commit(b.Context(), id, c); err != nil {
		b.Fatal(err)
	}
	return id
}

// BenchLoad measures Load of each record shape, as sub-benchmarks "small"
// and "10KB".
func BenchLoad(b *testing.B, s store.Store) {
	for _, r := range BenchRecords() {
		b.Run(r.Name, func(b *testing.B) {
			id := benchCreate(b, s, r.Values)
			b.ReportAllocs()
			for b.Loop() {
				if rec, err := s.Load(b.Context(), id); err != nil || rec == nil {
					b.Fatal(rec, err)
				}
			}
		})
	}
}

// BenchCommit measures an Update setting one key (the common write) of
// each record shape, a Touch and a Create, as sub-benchmarks "small",
// "10KB", "touch" and "create".
func BenchCommit(b *testing.B, s store.Store) {
	shapes := BenchRecords()
	for _, r := range shapes {
		b.Run(r.Name, func(b *testing.B) {
			id := benchCreate(b, s, r.Values)
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
		id := benchCreate(b, s, shapes[0].Values)
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
			benchCreate(b, s, shapes[0].Values)
		}
	})
}
