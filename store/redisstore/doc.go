// Package redisstore is a [store.Store] on Redis, through go-redis v9's
// [redis.UniversalClient]: one code path for a single node, Sentinel (a
// failover client) and Cluster.
//
//	rdb := redis.NewClient(&redis.Options{
//		Addr:                  "localhost:6379",
//		ContextTimeoutEnabled: true, // calls end at the session manager's deadline
//		// While Redis is down, a request fails in milliseconds instead of
//		// after five dial retries and three resends (measured under load by
//		// `make chaos`: the slowest 503 went from over a second to tens of
//		// milliseconds).
//		DialTimeout:     500 * time.Millisecond,
//		DialerRetries:   1,
//		MaxRetries:      1,
//		MaxRetryBackoff: 64 * time.Millisecond,
//		ReadTimeout:     time.Second,
//		WriteTimeout:    time.Second,
//	})
//	st := redisstore.New(rdb)
//	defer st.Close()
//	m, err := session.New(session.WithStore(st))
//
// # Data model
//
// A session is one string under prefix+"s:"+id ([WithPrefix]; "tether:" by
// default): a fixed header (kind, version, last seen, expiry, created, the
// score of its user index entry) followed by its user id, its attributes
// and its values, each behind its length (layout.go has the details). So a
// load is one GET, and Redis keeps a session as one allocation. A commit's
// script reads the string, applies the change and writes it back (a changed
// value stays where it was, a new key goes at the end); a touch rewrites the
// header's version, last seen and expiry in place (SETRANGE).
//
// Upgrading from a version that kept a session as a hash (values in fields
// "v:"+key, metadata in fields "m:"+name): every method still reads such a
// hash, and the first write to it (a touch, a commit, a rotation, a logout)
// turns it into a string in the same atomic step, keeping its TTL. While
// nodes of the previous version still run, they cannot read a session that
// a new node wrote (Redis answers WRONGTYPE, and they answer 503): roll the
// upgrade out at once, or accept those errors for the minutes it takes.
//
// # Atomicity
//
// Every write is one Lua script on the session's key (EVALSHA, and EVAL when
// the server answers NOSCRIPT): Commit checks that the record exists (or, to
// create, that it does not), is not a tombstone and stays within the size
// limit, then deletes and sets the changed fields, bumps the version, sets the
// expiry with PEXPIREAT and publishes the ID, all in one atomic step. A commit
// that is refused writes nothing. Concurrent commits of one session apply one
// after the other, each to the record as the previous one left it, so none
// overwrites another's keys, and a destroyed, expired or rotated session is
// never brought back. Touch and Move are scripts of the
// same kind; Move checks the version.
//
// A commit whose change carries the record the session loaded
// (store.Change.Base) takes a fast path: Go computes the new string, and a
// small script writes it only if the stored string is still, byte for byte,
// the one the session loaded: a third less work for redis-server per small
// update (see BENCHMARKS.md). On a mismatch (a concurrent write, a touch, a
// record whose pairs are out of key order) the script writes nothing and
// replies with the stored string; the commit is tried once more on it, and
// after a second mismatch, or for a record over 8 KiB, the commit script
// runs as it would have. A login goes to the commit script at once. [Stats]
// counts the mismatches: each costs a round trip. Comparing the whole
// string, not the version, keeps this right after a failover that lost
// acknowledged writes, when versions repeat.
//
// # Lost replies and late writes
//
// go-redis resends a command whose connection broke before the reply came
// (MaxRetries, 3 by default; 1 in the settings above), so a write may run
// twice. Every write is safe
// to run twice: a Move that finds the tombstone it left itself (same new ID)
// succeeds and changes nothing; a resent Create reports [store.ErrExists],
// which the session manager recognises as its own; an update re-applies the
// same delta; a delete of a missing record succeeds. A tombstone whose
// expiry has passed is gone at once, so only a Move that leaves a tombstone
// for at least as long as a call may take is recognised when resent.
//
// A write that reaches Redis after its caller's deadline does not apply:
// Commit, Touch and Move send the deadline (in milliseconds) with the script,
// which compares it with Redis' own clock (TIME) before anything else and
// refuses with an error matching [context.DeadlineExceeded]. (A script may
// write after reading TIME because scripts replicate their effects: the
// default since Redis 5, the only way since Redis 7; tested on 7.0, single
// node and Cluster.) So a write
// stalled in a frozen link, which the session manager answered with 503, does
// not land seconds later over a newer one. The comparison is between the
// application's clock (the deadline) and Redis': keep them in sync (NTP); a
// Redis clock ahead by d refuses writes d early, one behind by d lets a late
// write land up to d after its deadline. A 503 from a store timeout therefore
// means: the write did not apply, unless Redis ran it before the deadline and
// only the reply was late (then it applied). It never means "applied later".
//
// # Expiry and clocks
//
// A record expires by Redis' own expiry (PEXPIREAT at its Expires), so a key
// that exists is live by the server's clock, and every method trusts that.
// The session manager computes Expires with its own clock: keep the clocks of
// application and Redis hosts in sync (NTP), or sessions end early or late by
// the skew. Times are kept to the millisecond.
//
// # Cluster
//
// Every command and script touches exactly one key, so no operation crosses a
// hash slot and keys need no hash tag: sessions spread over the whole
// Cluster, and IDs or user ids with braces cannot break anything. (A prefix
// that holds a hash tag pins every key of the store to one slot.) Commands for
// several sessions (UserSessions, DeleteUser) are pipelined; go-redis splits a
// pipeline by node. Do not route reads to replicas (ReadOnly, RouteByLatency,
// RouteRandomly): a replica may not have the last write yet, and a session
// that was just written would look older or missing.
//
// # Sentinel
//
// Pass a client from [redis.NewFailoverClient]. After a failover, writes that
// a replica had acknowledged (see WAIT) are on the new master; until go-redis
// hears of the switch from a sentinel, calls fail (the old master is read-only
// or gone) and the session manager answers 503, never "no session".
//
// Writes the old master acknowledged but never replicated are lost, as with
// any asynchronous replica; what the store guards is what comes after. A
// record goes back to an older version, and its next write must not take a
// lost write's version for other contents, or a request that loaded the
// lost write would take the new record for it (its rotation would copy the
// lost values over the new ones). So a write raises the version by a random
// step, not by one, and reports the version it applied to
// ([store.Result.Prior]); the commit fast path compares whole strings.
//
// # User index
//
// The sessions of a user are listed in a sorted set under prefix+"u:"+userID,
// scored by when each was indexed. It lives in another slot than the sessions,
// so it cannot change in the same atomic step: a commit adds the session to
// the new user's index before its script runs and removes it from the old
// user's index after. A failure in between leaves an entry too many — which
// [Store.UserSessions] and [Store.DeleteUser] check against the session
// itself and skip — never a session missing from its user's index, which would
// survive "log out everywhere". Entries whose session is gone are removed
// lazily, once they are a minute old (younger ones may belong to a commit in
// flight), by UserSessions, DeleteUser, and by a login into an index that has
// grown past 32 entries.
//
// A removal never takes an entry that a concurrent commit has just made: the
// session records its entry's score, indexing a session again raises the
// score, and an entry is removed only if its score is still the one the
// remover saw. So a commit that takes a session away from alice while
// another gives it back to her leaves the session in alice's index.
//
// # Invalidation
//
// Every write publishes the session's ID on a pub/sub channel ([WithChannel])
// from inside its script, so no reader sees the new state before the
// notification is sent. [Store.Notify] subscribes to it, for the hybrid tier
// (package hybridstore) to evict what other nodes changed; it reports a
// (re)established subscription with a Reset event, and a lost one with Lost,
// checking the subscription end to end with heartbeats: a subscription that
// stops hearing the writes (a stalled link, a connection that died without a
// FIN) is reported Lost at most two heartbeat intervals after it stopped, 2
// seconds with the default [WithHeartbeat] of 1 second. Without a cache in
// front of the store, [WithNotify](false) saves the publications (which a
// Cluster forwards to every node).
//
// A [redis.Ring] works as a client too, except for Notify: its shards are
// separate servers that do not share publications, so Notify returns an error
// matching [store.ErrUnsupported].
//
// # Timeouts and errors
//
// Every method returns promptly when its context is done, provided the client
// honours context deadlines: build it with ContextTimeoutEnabled: true (New
// logs a warning when it sees the setting off). The session manager puts a
// deadline on every store call ([WithTimeout] can add one).
//
// A missing record is not an error. Network and server faults are returned
// wrapped ("redisstore: load: ..."), and the middleware turns them into its
// error response: an outage never reads as "logged out". The contract's
// outcomes are [store.ErrNotFound], [*store.MovedError], [store.ErrExists],
// [store.ErrConflict] and [*store.TooLargeError]. A session the store cannot
// read is [ErrCorrupt].
//
// # Size limit
//
// A session record (keys, values, attributes and user id) is limited to 1 MiB by default
// ([WithMaxRecordSize], [store.DefaultMaxRecordSize] as on every backend).
// The limit is checked in the commit script against the size the record
// would have after the change, so it holds across many small commits too; a
// commit over it fails with a [*store.TooLargeError] and changes nothing.
//
// # Costs
//
// A load is one GET, whose reply is decoded into one copy of what follows
// the header (the record's user id, attributes and values share it, unless a
// commit added a key that sorts before another: the values are then sorted
// into a copy of their own). A commit or a touch is one EVALSHA, which in
// redis-server costs several times the commands it runs: the Lua machinery
// around them dominates, so the scripts keep their arguments, calls, function
// calls and strings few. A commit reads the whole string into Lua and writes
// it back, so its cost grows with the session, where a hash let a commit
// write only the changed fields; a touch rewrites 24 bytes whatever the
// session holds. Counted with callgrind in redis-server 7.0, in instructions
// per call (a PING: 4,100), against the hash layout: a load of a session of
// two short values 5,700 (from 14,600), of five 100-byte values 5,900 (from
// 16,200); a commit of one value 100,000 (from 96,900) and 128,000 (from
// 89,000); a touch 57,000 (from 55,200 and 52,300). The script's walk costs
// redis-server about 0.3 µs per key of the session: a commit to a session of
// 10,000 keys takes 3 ms (BenchmarkCommitManyKeys), during which Redis
// serves no one else. The hash layout paid about 0.1 µs per key on every
// load instead (HGETALL). Keep sessions to hundreds of keys, not thousands,
// and never let a client choose how many. A commit that changes
// the user id also sends a script to the new user's index before it and one
// to the old user's index after it; under volatile-lfu, a commit that gives a
// session a user copies it once more (DUMP and RESTORE, to set its access
// frequency).
//
// A session's attributes ([store.Record.Attrs]) are one string of it,
// holding their keys and values, each behind its length (two bytes of
// framing per attribute of short strings), so keys need no escaping and a
// session without attributes pays one byte. UserSessions reads the first 4
// KiB of each session (GETRANGE, one pipeline), which hold its header, user
// id and attributes, and a session whose attributes run past them whole,
// in one pipeline more; never the values beyond.
//
// # Memory policy
//
// A user index has no TTL (it lives as long as the user has sessions), and
// every session has one. So what Redis evicts under memory pressure depends
// on maxmemory-policy, which the store checks at New and every minute
// ([WithPolicyCheck]); the policy matters only with a memory limit
// (maxmemory), since without one Redis never evicts:
//
//   - noeviction (recommended): nothing is evicted. When memory is full,
//     Redis refuses writes that need memory: a commit fails loudly (Redis'
//     OOM error, which the session manager answers with 503) and changes
//     nothing, while reads and deletes, logouts and DeleteUser included,
//     still work and make room again.
//   - volatile-lfu (accepted, with a warning): only sessions are evicted,
//     never an index, so "log out everywhere" still finds every session that
//     is left; and a session with a user outlives anonymous ones. A commit
//     that gives a session a user sets its access frequency to the highest
//     (RESTORE ... FREQ 255); anonymous sessions start at 5; Redis decays the
//     counter by one per idle minute (lfu-decay-time 1). So a user's session
//     outlives every anonymous one until it has been idle for about four
//     hours, among users the idle ones go first, and among anonymous
//     sessions the idle and the rarely used. (In this package's test, a flood
//     that made Redis evict 8,000 sessions left all 50 users' sessions,
//     active and idle.)
//   - allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-ttl,
//     volatile-random, and any policy unknown to this package (refused). The
//     allkeys-* policies evict user indexes (under a flood of anonymous
//     sessions, the index of every one of 50 users in this package's test),
//     hiding live sessions from UserSessions and DeleteUser. volatile-lru and
//     volatile-ttl evict by recency, so a flood of fresh anonymous sessions
//     evicts every user idle for longer than the flood lasted (all 25 idle
//     users of the test, and under volatile-lru, whose clock ticks once a
//     second, most active ones too); volatile-random prefers no session to
//     another. While a server has such a policy, Commit, Touch, Move and
//     Ping fail with a [*PolicyError] (matching [ErrEvictionPolicy]) and the
//     store logs an error; reads and deletes still work, so logouts do. New
//     cannot return an error (its signature is the session manager's
//     contract), hence a refusal that every write and health check reports,
//     rechecked every minute so that fixing the server with CONFIG SET needs
//     no restart.
//
// Bound anonymous session creation in front of the store in any case, and
// give Redis the memory its sessions need.
//
// Servers that refuse CONFIG (most managed services) cannot be checked and
// are not refused: set their policy to noeviction or volatile-lfu.
//
// # Concurrency
//
// A [Store] is safe for concurrent use by multiple goroutines, and by many
// processes on one Redis. [New] starts one goroutine (the policy check,
// unless WithPolicyCheck(false)) that runs until [Store.Close]. The caller
// owns the client and closes it after the store.
package redisstore
