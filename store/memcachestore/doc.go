// Package memcachestore is a [store.Store] on memcached, through a
// [github.com/bradfitz/gomemcache/memcache] client with one or many servers.
//
//	client := memcache.New("10.0.0.1:11211", "10.0.0.2:11211")
//	client.Timeout = 300 * time.Millisecond // below session.WithStoreTimeout
//	m, err := session.New(session.WithStore(memcachestore.New(client)))
//
// # Read this first: memcached is a cache
//
// Memcached keeps sessions in memory only, and treats them as a cache:
//
//   - Under memory pressure it evicts items, least recently used first, and a
//     live session is an item like any other. An evicted session is a logout:
//     the user's next request finds no session.
//   - A restart (a deploy, a crash, a node replaced) loses every session on
//     that server. Users come back to fresh sessions; nothing fails.
//   - Nothing is replicated. With several servers, each session lives on one of
//     them; losing a server logs out its share of the users.
//
// Choose it when sessions are cheap to lose (a shopping cart you can rebuild,
// a login that a remember-me cookie or single sign-on renews silently), when
// you already run memcached, and when you want the cheapest, fastest shared
// store for many replicas: one round trip per read, two per write, no
// persistence cost. Size its memory so that evictions stay at zero (watch
// memcached's "evictions" counter) and expect to lose everything at restart.
//
// Do not choose it when a logout must never happen by accident, when sessions
// hold data that exists nowhere else (a half-filled form that took an hour),
// or when "log out everywhere" is a security control you must be able to rely
// on under memory pressure: use redisstore or pgstore.
//
// # Data model
//
// Each session is one item holding the whole record, encoded by
// internal/recordcodec, under prefix+"s:"+id (the session manager's IDs are
// 64 hex digits, valid in memcached keys). Each user with indexed sessions has
// one more item, under prefix+"u:"+hex(sha256(userID)) (user ids may hold
// spaces and control characters, which memcached keys cannot), listing the
// IDs of the user's sessions. The prefix is [WithKeyPrefix].
//
// # Atomic deltas
//
// A commit reads the record with its CAS unique (gets), applies the request's
// change to it in Go with [store.Change.Apply], and writes it back with cas,
// which memcached refuses if anything wrote the item since it was read. The
// loser of a race reads again and reapplies its change on top of the winner's,
// so concurrent requests that change different keys all survive. After
// [WithCASRetries] attempts the commit gives up with an error matching
// [store.ErrConflict] (a 503 for the request); it never falls back to an
// unconditional set. Between attempts it waits a short random, growing time,
// so that contending writers spread out: with the default of 32 attempts, 100
// requests writing one session at the same moment all succeed (the tests
// check it; they need about 13 attempts at worst).
//
// A create uses add, which fails if the key is taken ([store.ErrExists]),
// except by a record that has expired by the store's clock but not yet by
// memcached's, which it replaces with cas. An update on a missing or expired
// record fails with [store.ErrNotFound], on a tombstone with a
// [*store.MovedError]; Touch and Move are compare-and-swap loops of the same
// kind, so a touch racing a commit never writes back stale values. Delete
// deletes unconditionally (a logout wins); DeleteUser deletes each session
// with a compare-and-swap, so that a session another request moved to another
// user meanwhile is left alone. A write whose change ends the session (an
// expiry in the past) is a compare-and-swap to an item that expires at once.
//
// # Lost replies and restarts
//
// A connection in the client's idle pool dies with its server; the first
// command on it fails with EOF. The store then drops the client's idle
// connections and repeats the command once on a fresh one, so a memcached
// restart costs no failed requests. A command whose reply was lost after the
// server carried it out is repeated too, and every write checks what it
// finds: an add that finds its own bytes, or a move that finds its own
// tombstone, has succeeded; a cas that finds the item changed reads it again
// and reapplies its change, which is idempotent.
//
// # Expiry
//
// Every expiry is sent as an absolute Unix time, never as relative seconds:
// memcached reads values up to 30 days as relative and larger ones as
// absolute, and an absolute time is unambiguous whatever the session's
// length. It is rounded up to the next whole second and padded by one more,
// because memcached's clock ticks in whole seconds and may run up to a second
// ahead of the wall clock: memcached never drops a record before its expiry.
// The store itself compares each record's Expires with its own clock, so a
// record is gone for readers exactly at its expiry, whatever memcached does.
// Absolute times are read by each server's clock: keep the clocks of
// application and memcached hosts synchronised (NTP). Memcached's field is 32
// bits: expiries past January 2038 are sent as its maximum.
//
// # Size limits
//
// A record whose encoding exceeds [WithMaxItemSize] is refused with a
// [*store.TooLargeError] before anything is sent (before any round trip at
// all when the change alone is over the limit), and the stored record is left
// as it was: the request gets a 5xx, and every value acknowledged before
// stays readable. Set the limit to the servers' -I less 512 bytes. A server
// that refuses an item anyway (its -I is smaller than configured) is reported
// with an error matching [store.ErrTooLarge] as well; memcached keeps the old
// item when an add or cas is refused.
//
// # User index
//
// A user's index item lists the IDs of the user's sessions, each with the
// time it was added. It is updated with compare-and-swap (add when missing),
// never locked, and keeps one invariant: every record that names the user is
// listed (the index may list more). A writer adds the entry before the
// record names the user; entries are removed only when their record cannot
// name the user any more: deleted, expired, moved, or naming another user
// with an entry older than a grace period of a minute, so that a writer still
// between its index write and its record write is never undone. (This assumes
// the application hosts' clocks agree within about half a minute.)
//
// UserSessions reads the index and the records it lists (GetMulti, 32 at a
// time), returns the live ones that name the user, and writes back the index
// without the dead entries, best effort. Adding a session to an index of 32
// entries or more first drops the dead ones, so the index stays bounded even
// if UserSessions is never called. DeleteUser deletes every live session of
// the user and removes their entries.
//
// The index item expires an hour after the latest expiry of its sessions
// when it was last written. Each record item keeps that deadline in its
// memcached flags, so a commit that extends a session knows without a round
// trip whether the index needs extending too (about once an hour). Touch, at
// most once per session per touch interval, always checks the index (one more
// round trip): memcached evicts the least recently used items first, an index
// is read far less often than its sessions, and a Touch re-adds a session the
// index lost. Between such an eviction and the session's next touch,
// UserSessions and DeleteUser do not see the session: "log out everywhere" is
// only as reliable as memcached's memory.
//
// # Versions
//
// [Store.Version] lets the hybrid tier revalidate a cached record, since
// memcached cannot broadcast changes. The version is the record's own,
// incremented by the same compare-and-swap that writes the record, so it
// never goes backwards and never repeats with different content while the
// record exists; once the record is gone, Version answers 0. Memcached has no
// command that answers an item's metadata without its value in the text
// protocol gomemcache speaks, so Version costs one round trip carrying the
// record, like Load, and saves only the decoding (it reads the record's
// header). A separate, smaller version item was considered and rejected: it
// cannot be written atomically with the record, and memcached may evict one
// without the other, after which a cache would trust a version that no longer
// describes the record. A hybrid tier on memcached therefore saves memory
// bandwidth and decoding, not round trips; a short local TTL is the cheaper
// revalidation when a little staleness is acceptable.
//
// # Several servers
//
// The client spreads keys over its servers by hash; the store works with any
// server list, and UserSessions and DeleteUser read across all of them. A
// server that is down fails the requests of the sessions it holds (503, not
// logout) until it is back, empty. Changing the client's server list remaps
// keys: sessions on a server that no longer gets their keys are lost, and a
// server that is added back still holds the records it had, now stale: a
// deleted session or an old version of one could reappear. Flush a server
// (flush_all) before adding it back to a list.
//
// # Contexts and timeouts
//
// gomemcache takes no context. The store checks the context before every
// command and between attempts, and each command is bounded by the client's
// Timeout (500ms by default), so a method returns at the latest one Timeout
// after its context is done. Set the client's Timeout below the session
// manager's store timeout.
//
// # Concurrency and lifetime
//
// A [Store] is safe for concurrent use by multiple goroutines and processes.
// It starts no goroutines and needs no Close; the client is the caller's.
package memcachestore
