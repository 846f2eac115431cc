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
// store for many replicas: one round trip per read, two per write (three,
// at most every 30 seconds, for a session with a user), no persistence cost.
// Size its memory so that evictions stay at zero (watch memcached's
// "evictions" counter) and expect to lose everything at restart.
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
// A session's attributes ([store.Record.Attrs]) are part of its record item,
// written by the same compare-and-swap as its values, so they can never
// disagree with the record nor be evicted apart from it. A record without
// attributes is written in recordcodec's format 1, as the previous release
// wrote every record, and one with attributes in format 2; this release
// reads both. During a rolling upgrade, processes of the previous release
// read every record that has no attributes and report one that has them as
// corrupt (a 503), so set attributes only once every process runs this
// release.
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
// deletes unconditionally (a logout wins); DeleteUser ends each session
// with a compare-and-swap, so that a session another request moved to another
// user meanwhile is left alone, and a commit racing it either lands first
// (and is ended with the session) or fails, never bringing the session back.
//
// A Move leaves a tombstone that lives until the expiry it was given, also
// one that forwards nothing (an explicit rotation's, a logout's). DeleteUser
// leaves the same tombstone a logout does, forwarding nothing and naming the
// record's own ID, until the session would have expired: a request in flight
// with the session's token then finds its session ended and drops its
// changes, where a missing record would read as expired and let a request
// that only writes save them in a new session. A write that ends a record (a
// Commit or Touch with an expiry in the past, a Move whose expiry has passed)
// swaps it for a marker: a tombstone that forwards nothing, is dead by every
// clock (every reader, on every node, treats it as missing), and that
// memcached drops within a minute.
//
// # Lost replies and restarts
//
// A connection in the client's idle pool dies with its server; the first
// command on it fails with EOF. The store then drops the client's idle
// connections and repeats the command once on a fresh one, so a memcached
// restart costs no failed requests. The same EOF ends a connection whose
// server carried out the command and closed before replying, so every
// command the store sends is safe to run twice, and every write recognises
// its own effect as success:
//
//   - a create that finds its own bytes under the key has succeeded;
//   - a Move that finds a tombstone naming its new ID (live, or expired but
//     still held by memcached) has succeeded, also when the session manager
//     runs the whole Move again;
//   - a write that ended a record finds the marker it left, which names that
//     write alone, and succeeds (an expired item would leave nothing to
//     recognise: the resent write would report "not found" for a record it
//     ended itself);
//   - an update or a touch re-applies its change on top of its own, which
//     gives the same values and times (the version goes up once more);
//   - a Delete that finds nothing has succeeded;
//   - DeleteUser counts a session whose ending reply was lost: the
//     tombstone it left carries, in its item flags, a mark drawn for the
//     call, by which the call recognises it. Its count is of the sessions
//     that this call ended, no more (a session that was gone, or already
//     ended by a logout or another DeleteUser, when it looked is not
//     counted) and no fewer.
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
// Two limits apply, both refused with a [*store.TooLargeError] before
// anything is sent (before any round trip when the change alone is over a
// limit), leaving the stored record as it was: the request gets a 5xx, and
// every value acknowledged before stays readable.
//
//   - The per-record limit, [WithMaxRecordSize], 1 MiB by default: the bytes
//     of value keys, values, attributes and user id ([store.Record.Size]), the same limit
//     as on every backend, so a session that fits in one fits in all.
//   - The item limit, [WithMaxItemSize]: the encoded record, which is larger.
//     Its default, 2 MiB less 512 bytes, is for memcached started with -I 2m.
//     That is what a 1 MiB record needs: a record of a few values encodes to
//     a few dozen bytes more than its size, but one of hundreds of thousands
//     of empty values under 1 to 3-byte keys, the worst case, to 1.71 MiB, and
//     memcached adds its item header and the key. With memcached's default,
//     -I 1m, set WithMaxItemSize(1<<20 - 512): records of nearly 1 MiB are
//     then refused by the item limit before the record limit.
//
// A server that refuses an item anyway (its -I is smaller than
// WithMaxItemSize promises) is reported with an error matching
// [store.ErrTooLarge] as well, not as an outage; memcached keeps the old item
// when an add or cas is refused.
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
// if UserSessions is never called. DeleteUser ends every live session of
// the user and removes their entries; it also ends, without counting them,
// sessions that expired by its clock within the last minute, which a node
// whose clock runs behind may still see live. For the same reason those
// sessions keep their entries through the clean-ups (UserSessions does not
// return them): dead is an entry whose session expired more than a minute
// ago, by the clock of the node that cleans up.
//
// The index item expires an hour after the latest expiry of its sessions
// when it was last written. Each record item keeps that deadline in its
// memcached flags, so a commit that extends a session knows without a round
// trip whether the index needs extending too (about once an hour).
//
// # Memory pressure
//
// Memcached evicts the least recently used items of a size class when it
// needs room in that class, and knows no priorities: a session with a user
// goes as easily as an anonymous one, an index as easily as a session. The
// store does what the protocol allows to keep the index with its sessions:
//
//   - Every Touch of a session with a user, and a commit of one at most every
//     30 seconds per session and application process, reads the user's
//     index. The read marks the index as in use in memcached's LRU, as the
//     session's own reads and writes mark the session (memcached moves an
//     item up at most once a minute however often it is read), and a session
//     missing from the index, because memcached evicted the index, is added
//     back. In this package's tests, 48,000 anonymous sessions through a
//     4 MB memcached (31,000 evictions) left the index of every active user
//     in place; without the reads they evicted all of them.
//
// What still does not hold, and cannot on memcached:
//
//   - A session that is read but neither touched nor committed since its
//     index was evicted is not listed until its next touch or commit:
//     UserSessions does not return it, and DeleteUser ("log out everywhere")
//     does not end it. A session that is idle is in the same state, and
//     stays valid for whoever holds its token until it expires or is
//     evicted itself.
//   - Size classes are evicted separately: an index and its sessions are
//     usually of different sizes, so one class under pressure can evict an
//     index whose sessions are safe in another.
//   - Evicted sessions are logouts, active users' included.
//
// Size memcached so that its "evictions" counter stays at zero. Where "log
// out everywhere" is a security control, use redisstore or pgstore.
//
// Memcached started with -M evicts nothing: when it is full it refuses new
// items, and the store reports the refusal as an error (a 503, never "not
// found" or "exists"). Every session and index then stays until it expires
// or is deleted, so the index lists every session, and new sessions, logins
// included, fail until expired items make room: refused sign-ins instead of
// logouts. Writes that need room of their own can fail too, loudly: a commit
// that grows a session, and the ending writes (a logout's Move, DeleteUser),
// which write a small tombstone or marker; Delete needs none.
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
// # Contexts, timeouts and late writes
//
// gomemcache takes no context. The store checks the context before every
// command and between attempts, and each command is bounded by the client's
// Timeout (500ms by default), so a method returns at the latest one Timeout
// after its context is done. Set the client's Timeout below the session
// manager's store timeout.
//
// A write must not land after its caller gave up on it. Memcached has no
// clock a command could compare the caller's deadline with, so the store
// compares it with its own clock just before sending each command, between
// compare-and-swap attempts included: a write whose deadline has passed is
// not sent and returns an error matching [context.DeadlineExceeded]. What
// remains is a command already sent when the link stalls. Memcached carries
// it out whenever it arrives: while the client still waits for the reply (up
// to its Timeout), and, after gomemcache gave up and closed the connection,
// for as long as the kernel keeps retransmitting the closed connection's
// data (on Linux, by default, up to about 100 seconds: tcp_orphan_retries).
// Give the client a DialContext whose connections close with a reset
// (net.TCPConn.SetLinger(0), see the examples) to drop the command with the
// connection: the window is then the client's Timeout.
//
// # What a 503 means for a write
//
// The session manager answers a failed write with its error handler (503 by
// default). On Memcached that write either did not apply (refused before it
// was sent: a passed deadline, a size limit, a conflict after every attempt,
// the server down) or may have applied (a command sent whose reply never
// came, or the late window above): a 503 does not say the write is lost,
// nor that it applied. A write that lands late still cannot overwrite a
// newer one: every write to a record is a cas against the item it read, and
// any write that landed in between changed the item, so memcached refuses
// the late one. What the window allows is a write answered 503 turning up
// applied, over exactly the record it read. Delete (a logout) is the
// exception: it is unconditional, and a late logout still logs out.
//
// # How long a logout takes to reach every node
//
// Every node reads memcached itself, so a logout, a DestroySession or a
// DeleteUser is seen by the next read on any node, once the write returned.
// Behind the hybrid tier (hybridstore), which cannot be told of changes by
// memcached: by default it revalidates every hit with [Store.Version], so
// the bound is the same; with its local TTL of d, a node may serve a session
// logged out elsewhere for up to d; in its degraded mode (stale-if-error d),
// for up to d while memcached does not answer. The exception is the memory
// pressure above: a session missing from its evicted index is not reached
// by DeleteUser at all, and stays valid until it expires.
//
// # Concurrency and lifetime
//
// A [Store] is safe for concurrent use by multiple goroutines and processes.
// It starts no goroutines and needs no Close; the client is the caller's.
package memcachestore
