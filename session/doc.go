// Package session manages HTTP sessions: tokens, cookies, expiry, rotation,
// the user index, and the per-request view of a session's values.
//
// It knows nothing of any backend: a [Manager] talks to a
// [github.com/tether-go/tether/store.Store], by default an in-process memory
// store. Package middleware connects it to net/http.
//
//	m, err := session.New(
//		session.WithStore(redisstore.New(rdb)),
//		session.WithIdleTimeout(30*time.Minute),
//		session.WithLifetime(24*time.Hour),
//	)
//	...
//	s := session.From(r.Context())
//	s.Set("cart", cart)
//	cart, ok := session.Get[Cart](s, "cart")
//
// # Tokens
//
// A session token is 256 bits from crypto/rand, base64url-encoded. It is the
// client's secret: stores key records by its SHA-256, so a dump of the store
// yields no usable cookie. A cookie that cannot hold a valid token (wrong
// length or alphabet, bad signature with [WithKeys]) is treated as no cookie,
// without a store round trip.
//
// # Expiry
//
// A session ends at the earlier of its last activity plus the idle timeout
// and its creation plus the lifetime. A request that only reads extends the
// idle deadline at most once per touch interval, with an expiry-only write.
//
// # Cost per request
//
// A request that never uses its session costs no store round trip; under
// package middleware it does not even build a Session ([Lazy]). A read
// loads the session once. A request that only sets values does not load it;
// the price is that such a request does not extend the idle deadline (it
// does not know the session's absolute deadline), so an application whose
// requests only ever write should read something, such as the user id, too.
// A request that changes nothing writes nothing, touch aside.
//
// # Concurrency
//
// Requests of one session run concurrently (tabs, XHR, HTTP/2). A commit
// carries only the request's changes, which the store applies atomically:
// two requests that set different keys both keep their values; on the same
// key the later commit wins.
//
// # Rotation
//
// [Session.Rotate] gives the session a new token and keeps its data; call it
// on login and on every change of privilege, against session fixation. The
// old token dies at once: whoever planted or stole it is not handed the
// privileged one. The old token's record becomes a tombstone that forwards
// nothing (it names the new record, so a revocation can follow the session,
// but holds no token), so no node hands the new token out, whatever its clock
// says. If another request of the session rotated it periodically at the same
// moment, the login follows that rotation and rotates again from there: it
// always ends on a token only its own client holds, and the other request's
// token dies with the old one.
//
// Periodic rotation ([WithRotateEvery]) changes no privilege, so there the
// old token forwards to the new one for the rotate grace period: requests
// already in flight, or from another tab, keep the session and receive the
// new cookie, and their writes land in the new record. After the grace period
// the old token is dead. A forward is followed only while this node's clock
// also says the grace period runs: a store or node with a slower clock cannot
// stretch it.
//
// A request that arrives with a token a login rotated away finds no session
// and leaves the cookie alone: the client's other tab holds the new cookie,
// and expiring the old name would log it out.
//
// # Logout
//
// [Session.Destroy] ends the record and expires the cookie. A commit never
// re-creates a record that ended: a request in flight when the user logged out
// has its changes dropped (and logged), not the session brought back, and does
// not start a new session with them either — the ended record stays as a
// tombstone that forwards nothing until the session would have expired, so
// that on a shared computer the next user does not inherit what the previous
// one's last request wrote. [Manager.DestroySession] revokes a device by ID and
// follows rotations that happen meanwhile (also when the ID it was given is
// already a rotation's old one), as long as the session stays that user's.
// [Manager.DestroyUser] repeats until the user has no session left.
//
// A request that only writes (it never reads its session) and carries a
// cookie whose session had already ended by expiry or never existed saves its
// changes in a new session under a new token, as it would have without the
// cookie: nothing of the old session comes back, and "come back after the idle
// timeout and add to cart" does not lose the cart.
//
// # Failures
//
// A store error is never read as "no session". The request's commit fails
// with a [*StoreError] and the middleware answers with its error handler
// (503 with Retry-After by default). Every store call has a deadline
// ([WithStoreTimeout]).
//
// What a 503 means for the write it answered: if the store call ran out of
// time, the write does not apply later — the memory, Redis and Postgres
// stores compare the call's deadline with their own clock inside the atomic
// step and refuse a write that arrives late (a stalled link that thaws cannot
// land it over a newer one). Memcached has no clock inside an operation: a
// command already sent when the link stalled may still apply. If the
// connection broke after the command was sent, the write may or may not have
// applied; every write is safe to repeat, so the client may retry.
//
// Every write is safe when a client library resends it after a lost reply:
// a rotation whose reply was lost recognises its own effect and completes, and
// a new session's create is not made twice.
package session
