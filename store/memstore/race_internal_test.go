//go:build race

package memstore

// raceEnabled: the race detector allocates objects of its own, which
// counts of heap objects see.
const raceEnabled = true
