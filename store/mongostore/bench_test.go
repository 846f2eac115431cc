package mongostore

import (
	"testing"

	"github.com/tether-go/tether/store/storetest"
)

// The benchmarks measure the store against the embedded FerretDB the tests
// start (SQLite, in the same process): figures of FerretDB, not of mongod,
// which keeps documents as BSON and updates them in place. Allocations
// include the server's.

// BenchmarkLoad: one find of the record's document.
func BenchmarkLoad(b *testing.B) {
	storetest.BenchLoad(b, newStore(b, connect(b, startFerret(b).URI())))
}

// BenchmarkCommit: an Update setting one key (a metadata read, then one
// filtered update), a Touch and a Create.
func BenchmarkCommit(b *testing.B) {
	storetest.BenchCommit(b, newStore(b, connect(b, startFerret(b).URI())))
}
