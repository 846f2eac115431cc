// Package modelcheck is a randomized, seeded model checker of sessions under
// concurrency, in the spirit of Jepsen and porcupine histories: simulated
// browsers run random mixes of requests, through the real middleware and a
// real store, against one or several application nodes at once; every
// operation is recorded, and invariants are checked on the history.
//
// # The model
//
// A client is a cookie jar that runs one request at a time. Each round,
// every client picks an operation: read (every value of the session), write
// (a blind Set of the client's own key to a unique value), rw (read, then
// write), login (read, then Rotate, SetUserID and a unique login marker),
// logout (Destroy, half the time after a load), plant (copy the client's
// cookie into another jar: session fixation), steal (copy another jar's
// cookie), and the admin calls DestroySession (an ID UserSessions listed),
// DestroyUser and UserSessions. Plants and steals happen first; then all of
// the round's requests start together. Periodic rotation is due every tick,
// so a read on a shared token races any login on it.
//
// The checker knows which session a jar holds by a label: the operation that
// created the session and the logins it went through. A label travels with
// the token on a plant or a steal; a new session (the Manager reports
// EventCreated) starts a new label.
//
// # Invariants
//
//   - fixation: data written under a login (its marker, any write through
//     the logged-in session) is never read through a token of before that
//     login; a write through a pre-login token that started after the login
//     completed never shows in the logged-in session; the token a login hands
//     its client is handed to no other request.
//   - isolation: a session never shows a value written to another session.
//   - lost-write: a client's read of its session shows its latest
//     acknowledged write (or a later one of its own), unless a logout, a
//     revocation of the session's user, a login by another holder, or a
//     login that killed the token the write went through, could have ended
//     what it wrote.
//   - vanished: a session its client was just handed is found by the
//     client's next request when nothing else touched it.
//   - revocation: a request that starts after a logout (that found its
//     session live), DestroySession or DestroyUser completed does not find
//     the session, through any token handed out before the revocation
//     completed.
//   - user-index: UserSessions after a completed DestroyUser lists no
//     session some client was handed, unless a login of the user ran since.
//
// Between two nodes of a hybrid deployment, a change may take up to
// [Config.CrossNodeBound] to reach the other node; the lost-write, vanished
// and revocation invariants allow that much between nodes, and no more.
//
// # Failures
//
// [Explore] runs a configuration, checks it, and on a violation replays the
// seed with fewer clients and rounds while it still fails; [Failure.Report]
// prints the seed and the operations on the sessions involved. A seed fixes
// every choice the checker makes, not the machine's interleaving: a replay
// finds a race with some probability, not always.
package modelcheck
