// Package chaos measures Tether under load and faults: app nodes behind a
// real NGINX on real stores, simulated users sending a steady, bounded,
// concurrent load, and a fault in the middle — a store killed and
// restarted, a replica promoted, a network that stalls, resets or swallows
// packets, an app node SIGKILLed. A ledger of every acknowledged write and
// every answer checks, after each fault, what Tether promises:
//
//   - no wrong read: a user never sees another user's data, nor a session
//     after its logout once the documented bound has passed;
//   - no silent logout: an answer "no session" while the session was alive
//     and the store promised to keep it;
//   - no acknowledged write lost where the store's own durability promises
//     it (Redis with appendfsync always, Postgres, bbolt), and the losses
//     of the others counted and stated;
//
// and measures the 5xx answers (how many, over how long, the slowest) and
// the time from the store's return to the first good answer.
//
// # Users
//
// Each simulated user is one browser, one request at a time: it logs in
// (a rotation and a user id), reads and writes keys of its own (so every
// value names its writer), rotates, logs out, and now and then replays a
// token a logout or a rotation ended. A write with no answer may or may
// not have applied; the ledger accepts either until a later read tells.
// A rotation or logout with no answer may have ended the token the
// browser still holds: a logout then is counted apart, as the documented
// limit it is (the reply, and with it the new cookie, is lost).
//
// # Nodes
//
// An app node is the test binary itself, started again with [NodeEnv] set
// (see [MaybeRunNode], which TestMain calls first), so that it can be
// SIGKILLed like a pod. Nodes use the go-redis settings the README
// recommends ([RecommendedRedisOptions]) unless a scenario measures the
// defaults.
//
// # Runs
//
// TestShort (part of `make test`) runs one fault per backend for a few
// seconds each. TestFull runs every scenario longer and a soak of hybrid
// over Redis with periodic faults, and writes RELIABILITY.md; it runs only
// when TETHER_CHAOS_OUT names the file (`make chaos`).
package chaos
