// Package boltstore is a [store.Store] in one file on local disk, on
// [go.etcd.io/bbolt]: durable sessions for a StatefulSet, whose pods each
// keep their own persistent volume, so that a pod's restart or a rolling
// deploy logs nobody out, with no Redis to run.
//
//	st, err := boltstore.Open("/data/sessions.db") // created if missing
//	if err != nil {
//		log.Fatal(err) // held by another process, or damaged: see below
//	}
//	defer st.Close() // stops the reaper, releases the file
//	m, err := session.New(session.WithStore(st))
//
// Besides [store.Store] it implements [store.Versioner] and [store.Pinger].
// It is not a [store.Notifier]: the file belongs to one process, so there is
// no other node to tell. Sessions live on one pod: route each user back to
// it (see "Topology" below) or share a store.
//
// # Durability
//
// A write returns once its transaction is on disk (fdatasync): an
// acknowledged commit survives kill -9 of the process (which the tests
// check) and, as far as the disk honours the sync, a crash of the machine.
// That commit (bbolt syncs the new pages, then the meta page) took about
// 0.3 ms on the virtual disk the benchmarks ran on, and is paid once per
// transaction, not per write: concurrent writes share
// transactions (group commit). A write that finds no transaction running
// starts one at once; writes that arrive while one commits queue and go
// together in the next, up to 256. So a lone writer pays one sync and no
// batching delay, and 50 concurrent writers pay about one sync per 25
// writes. (bbolt's own DB.Batch waits up to 10 ms to collect a batch, which
// a lone writer pays in full; it is not used.)
//
// # Records and indexes
//
// The file holds four buckets: records by ID (a compact binary encoding with
// a format byte, decoded with every length checked), a user index (the user
// id, length-prefixed, then the record ID: a user's sessions are one key
// range), an expiry index (the expiry, big-endian, then the ID: keys sort in
// expiry order), and a format marker. Every write is one transaction that
// reads the record, applies the change (delta commits: Clear, Delete, Set,
// the user id, the times), and updates both indexes, so a reader never sees
// a record without its index entries or the reverse.
//
// A session's attributes ([store.Record.Attrs]) are part of its record,
// ahead of its values, so [Store.UserSessions] walks the user's key range of
// the user index and decodes each record's metadata and attributes in place
// in the memory map, without copying (or, past its first pages, reading) its
// values. A record without attributes is written in the record format of
// the previous release (1), one with attributes in format 2; both are read.
// So a file written by the previous release opens as it is, with no
// migration, and a file whose sessions never had attributes still opens
// with the previous release after a rollback; one that holds a record with
// attributes does not (that release's Open reports a *CorruptError naming an
// unknown record format): clear them first (a commit with SetAttrs and no
// attributes rewrites a record in format 1), or start the old release empty.
//
// # Expiry and the reaper
//
// An expired record is invisible at once: every method compares its expiry
// with the clock ([WithClock], default time.Now). [Open] starts a reaper that
// every [WithReapInterval] deletes expired records in transactions of
// [WithReapBatch], walking the expiry index from its earliest key and
// stopping at the first live one: it reads expired entries only, never the
// live sessions. [Store.Close] stops it and waits for it.
//
// # Space
//
// Deleted and reaped records free their pages, which later writes reuse, so
// the file stays about as large as its peak of live sessions, tombstones and
// not-yet-reaped expired records, and does not grow without bound under a
// steady load. It never shrinks on its own: after a peak that will not come
// back, stop the process and run [Compact] to write a compacted copy.
//
// # Size limit
//
// [WithMaxRecordSize] (default 1 MiB, [store.DefaultMaxRecordSize]) bounds a
// record as [store.Record.Size] counts it, the same limit as every other
// backend: a record of exactly the limit is stored, a byte more is refused
// with a [*store.TooLargeError] and changes nothing. The store does not
// evict: the volume's size is the capacity, and a full volume makes writes
// fail (a 503) while reads go on working. Size the volume for the peak
// number of sessions times their size, with room for bbolt's free pages.
//
// # Late writes
//
// A Commit, Touch or Move whose context deadline has passed when its
// transaction reaches it changes nothing and returns an error matching
// [context.DeadlineExceeded]. The check runs inside the transaction, under
// the file's writer lock, against the process's clock (the clock the
// deadline is measured by; [WithClock] only judges expiry), so a write that
// waited past its deadline behind other writes or a slow disk does not land
// after its caller gave up. What remains is the sync itself: a write checked
// just before its deadline may be answered late, and applied.
//
// # One process per file
//
// bbolt locks the file (flock). A second process, or a second Open in this
// one, waits [WithLockTimeout] (default 1 s) and fails with an error matching
// [ErrLocked]: a second replica mounting the same volume fails at start-up,
// saying why, instead of hanging or sharing the file. A file on a network
// filesystem that does not honour flock is not protected: use a
// ReadWriteOnce volume.
//
// # Damaged files
//
// [Open] refuses a damaged file with a [*CorruptError] (matching
// [ErrCorrupt]) and never returns an empty store in its place, nor panics.
// It checks, before handing the file to bbolt: that a meta page is valid
// (bbolt keeps two and falls back to the older one after a torn write), that
// the file is as long as that meta page's page count says (a truncated file
// would make bbolt read past its end), and that the freelist page is one and
// names pages inside the file. After bbolt opens it: that the file is a
// session file of a known format; that every record decodes and every index
// key parses (which reads every page in use); and bbolt's own consistency
// check (every page reachable once or free, keys in order). A panic or a
// memory fault inside bbolt while opening is turned into a CorruptError too.
// The cost is one read of the file at Open: 0.2 s for a 112 MB file of
// 100,000 sessions in the page cache, plus the disk's read time when cold. A missing file is created (complete, under a
// temporary name, then linked into place); an empty one is damage.
//
// bbolt keeps checksums on its meta pages only: a flipped bit inside a
// stored value is not detected. A record that no longer decodes is reported
// by Load as a CorruptError (a 503), never as a missing session.
//
// # Errors and what a 503 means for a write
//
// The store's errors are disk errors (a full volume, an I/O error), a
// damaged record, [ErrClosed], and the late-write refusal. A write answered
// with an error was not applied, with one exception: a failed sync
// (fdatasync reporting an I/O error) after the write was handed to the
// kernel, where the disk's state is unknown. Every write is safe to resend.
//
// # Revocation
//
// A Delete, DeleteUser or Move is visible to the next Load at once: there is
// one copy of each session, in this process. There is no cross-node
// revocation, because there are no other nodes: a user routed to another pod
// has no session there.
//
// # Topology
//
// Run the service as a StatefulSet with a volumeClaimTemplate mounted where
// Open points, and a headless Service for the pods' stable names. What
// survives: a pod's restart or rescheduling onto another node with its
// volume (sessions kept); the pod deleted with its volume, or the volume
// lost with its node (the sessions on it lost). Route each user back to the
// pod that holds their session, by the pod's stable name: Kubernetes' own
// stickiness (a Service's ClientIP affinity, ingress cookies and hashes) is
// keyed by pod IP, which a restart changes, so it would send a restarted
// pod's users elsewhere and leave their kept sessions unread. With one
// replica any routing works. A request routed elsewhere finds no session
// and starts a new one. To survive the loss of a node, use a shared store
// (Redis, Postgres) instead.
//
// # Why bbolt
//
// bbolt is one file with a B+tree, memory-mapped reads (a Load is a map
// lookup and a decode, about 2 µs), serializable transactions with a single
// writer, and one dependency (golang.org/x/sys, already required). Its
// single writer is what makes a commit simple and safe here: the
// read-modify-write of a delta commit and the index updates need no locks
// of our own. Pebble (cockroachdb/pebble), the other pure-Go candidate, is
// an LSM tree: it has group commit built in and sustains more writes per
// second, and its compactions give space back to the filesystem on their
// own. But it has no read-modify-write transactions (a delta commit would
// need per-session locks in this package), runs background compaction
// goroutines and CPU, keeps a directory of files rather than one, and its
// go.mod lists 34 direct requirements (CockroachDB's errors and redaction
// libraries, three compression codecs, the Prometheus client among them). Session writes are small and, with group commit,
// bbolt sustains tens of thousands a second on one disk (50 concurrent
// writers: about 36 µs a write), well past what one pod serves; so bbolt's
// simplicity won and Pebble was not benchmarked.
//
// # Concurrency and lifetime
//
// A [Store] is safe for concurrent use. Reads run in parallel with each
// other and with writes; writes go one transaction at a time. It owns one
// goroutine, the reaper, started by Open and stopped by Close.
package boltstore
