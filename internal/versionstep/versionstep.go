// Package versionstep draws how much a write raises a record's version in
// the stores whose server may lose writes it acknowledged: Redis (an
// asynchronous replica promoted by a failover, a restart from a snapshot),
// Postgres and MySQL behind asynchronous replicas, a MongoDB replica set
// rolling back w:1 writes.
//
// After such a loss the record is back at an older version. With steps of
// one, its next write would take the lost write's version again, over other
// contents, and a request that had loaded the lost write would take the new
// record for it: its rotation's Move (which checks the version) would copy
// the lost values over the new ones, and the session's view of what it
// committed (store.Result.Before) would be the lost one. With a random step
// from 1 to Max, two writes from one version get one version about once in
// a million. The stores report the version a commit applied to in
// store.Result.Prior, since Version-1 no longer says it.
package versionstep

import "math/rand/v2"

// Max is the largest step. A record's versions stay below 2^53 (exact in
// Lua's numbers, which Redis's scripts use) for 2^33 writes.
const Max = 1 << 20

// Next returns a step from 1 to Max.
func Next() uint64 { return rand.Uint64N(Max) + 1 }
