package storetest

import "github.com/tether-go/tether/store"

// Held is a record a Load returned, kept with a copy of what it held then,
// for a backend's own tests that hold records while other goroutines write,
// evict and sweep: a store must never change a record it handed out (the
// suite's RecordsAreSnapshots checks it one write at a time).
type Held struct {
	rec, want *store.Record
}

// Hold keeps rec, which a Load returned.
func Hold(rec *store.Record) Held { return Held{rec: rec, want: cloneRecord(rec)} }

// Changed reports whether the record changed since Hold.
func (h Held) Changed() bool { return !sameRecord(h.rec, h.want) }
