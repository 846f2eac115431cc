// Package mongostore is a [store.Store] on MongoDB, through the official
// driver go.mongodb.org/mongo-driver/v2. It lives in a module of its own, so
// that users of the other backends never download a MongoDB driver.
//
// # Setup
//
// The caller connects and configures the client (pool, timeouts, TLS,
// write concern) and passes the collection to [New]; the store never
// disconnects it.
//
//	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://db:27017"))
//	if err != nil {
//		return err
//	}
//	s, err := mongostore.New(ctx, cl.Database("app").Collection("sessions"))
//	if err != nil {
//		return err // unreachable server, no privilege to create an index, …
//	}
//	defer s.Close()
//
// # Documents
//
// One document per record, keyed by the record's ID (the session manager's
// SHA-256 of the token, never the token itself): times as int64
// nanoseconds, the version, the user id as binary (any bytes), a tombstone's
// target (the empty string in the tombstones DeleteUser leaves, which
// stands for the record's own ID: see [Store.DeleteUser]), and three
// sub-documents: the values (binary), each value's size, and the
// attributes (strings). Value and attribute keys become field names
// through an injective escaping: '%', '.', '$', NUL and the bytes of
// invalid UTF-8 are written %XX and the empty key is "%", so no key is read
// as a path or an operator ("$where", "a.b", "" and "a%2Eb" are four
// distinct fields), and every other key is stored as it is. A
// sub-document, not an array of pairs, because an update can then $set and
// $unset one key by its path, without rewriting the others.
//
// # Writes
//
// Every write is one atomic operation on the record's document, with its
// preconditions in the filter: Touch and Move are one updateOne filtered on
// a live record that is not a tombstone (and, for Move, of the expected
// version); Delete is one deleteOne. Create is an insertOne; a duplicate
// _id that has expired is replaced whole by one replaceOne filtered on its
// expiry, and a live one is [store.ErrExists].
//
// An Update reads the record's metadata (not its values) and then applies
// the delta with one findOneAndUpdate: $set and $unset of the keys it names
// only, $inc of the version and of the record's size. Its filter requires a
// live record, not a tombstone, with room for the delta under the size
// limit, and pins what the size accounting read: the size of every key the
// delta touches (or its absence), the user id if it changes, the
// attributes' size, and for Clear the values' size. It takes the present
// it judges expiry by after that read, so a record that expires while the
// read is on the wire is not extended by the write. Writes of other keys
// change none of that, so concurrent commits of different keys of one
// session all apply without retrying; two writes of one key retry (read
// again) until one has read what the other wrote, and after 16 attempts
// the commit reports [store.ErrConflict]. The size limit is exact at the
// write whatever came between.
//
// An Update whose in-place command could approach BSON's 16 MiB command cap
// (hundreds of thousands of tiny keys: each key's field name goes into the
// command three times, escaped) reads the whole record instead, applies the
// change in Go, and replaces the document with one replaceOne filtered on
// the version it read; concurrent writes retry it as they retry each other.
//
// Every write is safe to run twice (the driver retries a write whose reply
// was lost, where the server supports retryable writes): a resent Update
// finds the sizes it pinned changed by its first run and re-reads, then
// applies the same delta; a resent Move recognises its own tombstone; a
// resent Create gets [store.ErrExists], which the session manager
// recognises; Delete of nothing succeeds.
//
// # Expiry
//
// Every read and every write filters on the expiry by the application's
// clock ([WithClock]), so an expired record is never loaded, listed or
// written, however long it stays in the collection. Deleting expired
// records only reclaims space: New creates a TTL index on a date field one
// minute past the expiry, and where the server refuses it ([Store.TTLIndex]
// reports false, and New logs why) a reaper goroutine deletes them every
// [WithReapInterval] with one deleteMany, on a plain index of the reap
// time that New then creates. Late writes: Commit, Touch and
// Move check the caller's deadline against the store's clock right before
// their operation goes out, and return an error matching
// [context.DeadlineExceeded] without sending it; what remains is the
// operation's own round trip (MongoDB has no clock an update's filter can
// read portably).
//
// # User index
//
// An index on the user id field: UserSessions is one find, whose
// projection leaves out the values. A find is not a snapshot, but on one
// replica set it walks a user's index entries in the order they were
// inserted, and a rotation inserts its new record before it moves the old
// one: a session that rotates while the find runs is met under one of its
// records, never under neither. On a sharded collection (each shard scans on
// its own), a collection clustered on _id, or with reads from secondaries,
// that order does not hold, UserSessions can miss a rotating session, and
// "log out everywhere" with it: run the store on an unsharded collection,
// reading from the primary. DeleteUser is two updateManys, which
// end the user's records as a logout does (each becomes a tombstone that
// forwards nothing, without user id, until the session would have expired):
// first those that expired less than a minute ago (a node with a slower
// clock may still see them live), not counted, then the live ones, counted;
// then one deleteMany of the user's older expired records. A request in
// flight with an ended session's token finds the tombstone and drops its
// changes, as after a logout. The tombstone's target, its own ID, is stored
// as the empty string, which every read resolves to the document's _id: an
// update's operators cannot copy _id into another field, and FerretDB
// refuses the pipeline-style update that could.
//
// # Size limit
//
// The per-record limit ([WithMaxRecordSize], 1 MiB by default, at most
// [MaxRecordSizeLimit]) counts what [store.Record.Size] counts, and a
// commit over it is refused with a [*store.TooLargeError], changing
// nothing. A record's document can take about 11.7 bytes per byte of
// record (many keys of three bytes that escaping turns into nine, with empty
// values, each twice: value and size), so the limit is at most
// [MaxRecordSizeLimit], 1.25 MiB, whose worst document fits BSON's 16 MiB
// cap. Times are int64 nanoseconds, saturated: an expiry past the year 2262
// is kept as 2262.
//
// # Hybrid tier
//
// The store is a [store.Versioner] (a find returning the version field
// only), so a hybridstore in front of it revalidates every local hit with
// one small read. It is not a [store.Notifier]: change streams need a
// replica set or sharded cluster, and the servers this package is tested
// on have none.
//
// # Failures
//
// A server that is down or unreachable makes every call fail with the
// driver's error, wrapped: never a nil record with a nil error, so the
// session manager answers 503 rather than starting an empty session. The
// driver reconnects by itself when the server is back.
//
// # Tested on FerretDB
//
// The tests run against FerretDB v1.24 with its SQLite backend, embedded in
// the test process (mongod cannot be installed where they run). The store
// is written to MongoDB's documented semantics; where FerretDB falls short
// it behaves as follows. FerretDB refuses the TTL index (NotImplemented):
// the reaper runs. It refuses a projection in findAndModify: the store
// notices the NotImplemented once, logs it, and from then on reads the
// whole record back from an Update. It applies an update as a read and a
// separate write, so concurrent writes to one document on different
// connections can lose one another (MongoDB's are atomic): the tests use a
// client with one connection. It uses an index only for a filter that is
// exactly {_id: …}, so every other command scans the collection. It has no
// change streams.
package mongostore
