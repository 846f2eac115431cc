package pgstore

import (
	"testing"

	"github.com/tether-go/tether/internal/testserver"
	"github.com/tether-go/tether/store/storetest"
)

func benchStore(b *testing.B) *Store {
	pg := testserver.Postgres(b)
	return newStore(b, newPool(b, pg))
}

// BenchmarkLoad: one round trip, the JSON decoded in Go.
func BenchmarkLoad(b *testing.B) { storetest.BenchLoad(b, benchStore(b)) }

// BenchmarkCommit: an Update setting one key (the common write), a Touch
// and a Create.
func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, benchStore(b)) }

// BenchmarkDecodeValues compares the fast path with encoding/json, which
// the fast path exists to avoid.
func BenchmarkDecodeValues(b *testing.B) {
	for _, r := range storetest.BenchRecords() {
		raw := appendValues(nil, r.Values)
		b.Run(r.Name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := decodeFast(raw); !ok {
					b.Fatal("refused")
				}
			}
		})
		b.Run(r.Name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeSlow(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
