// Package affinity routes each request to the replica that owns it, from
// inside the application: stickiness without a sticky load balancer.
//
// Behind a plain round-robin Service, a cloud L4 balancer or a Gateway
// without session persistence, every replica receives every user's
// requests. A [Router] in each replica picks the request's owner among the
// live replicas and either serves the request itself or forwards it there,
// once. With sessions kept on the owner only (the memory store, or a file
// on a StatefulSet pod's volume) the user keeps finding them; with a hybrid
// store the owner's local cache stays hot; with any shared store a lost
// replica costs nothing but a cache miss.
//
// # Use
//
//	rt, err := affinity.New(ctx,
//		// A headless Service lists the pods; this one is POD_IP.
//		affinity.WithPeerDNS("app-peers.default.svc.cluster.local", 8080),
//	)
//	if err != nil { ... }
//	defer rt.Close()
//	mux.Handle("GET /healthz", healthz)                        // answered by every replica itself
//	mux.Handle("/", rt.Wrap(middleware.Sessions(m)(app)))     // routed first, then the session
//
// Wrap sits outside the session middleware, so the session is loaded on the
// owner only. Sessions kept on the owner alone (memory, a file on a
// StatefulSet pod's volume) take the pods' stable names and
// [WithLocalSessions]:
//
//	rt, err := affinity.New(ctx,
//		affinity.WithPeers("app-0.app-headless:8080", "app-1.app-headless:8080", "app-2.app-headless:8080"),
//		affinity.WithSelf(os.Getenv("POD_NAME")+".app-headless:8080"),
//		affinity.WithLocalSessions(30*time.Second), // 503 with Retry-After while the owner restarts
//	)
//
// # Owner
//
// The owner of a key is chosen by rendezvous (highest-random-weight)
// hashing: every peer scores the key with SHA-256, the highest score wins,
// and the order of scores is the order of fallbacks. Every replica that sees
// the same peers picks the same owner without talking to the others, and a
// replica joining or leaving moves only about 1/N of the keys: its own.
//
// The key comes from one of:
//
//   - a routing cookie ([WithCookie], the default): a random key, set on the
//     first response to a client that has none. It is not the session token
//     and grants nothing; the session cookie is untouched. The response
//     that sets it says Cache-Control: no-store, so that no shared cache
//     hands one key to every client.
//   - the client's IP address ([WithClientIP]): X-Forwarded-For is believed
//     only from the trusted proxies given, rightmost untrusted entry first.
//   - a function of the request ([WithKeyFunc]): a tenant, an API key's ID.
//
// # Peers
//
// Peers are a fixed list ([WithPeers]), or the addresses a DNS name
// resolves to ([WithPeerDNS], a Kubernetes headless Service), resolved again
// every few seconds. This node's own address comes from [WithSelf] or the
// POD_IP environment variable. This node is always among its peers.
//
// Identity matters for local sessions: a Deployment's pod comes back with a
// new IP, which is a new peer, and its users move. Sessions on a pod's disk
// need the StatefulSet's stable names in WithPeers
// ("app-0.app-headless:8080", …), resolved when a request is forwarded.
//
// # One hop
//
// A forwarded request carries the [HopHeader] marker; a node serves a
// marked request itself, without routing it again, so a request makes at
// most one hop even while two replicas disagree about the peers (during a
// DNS change). A client can forge the marker; all it obtains is that the
// replica it reached serves it, as a client of a round-robin balancer gets
// anyway. The marker is removed before the request reaches the handler.
//
// The owner sees the request as the client sent it (method, Host, path,
// headers, body, the X-Forwarded-Proto and X-Forwarded-Host received, or
// X-Forwarded-Proto: https when this node terminated TLS itself), with
// the forwarding node's client appended to X-Forwarded-For and the
// forwarding node as the connection's peer. Responses are streamed back as
// the owner flushes them, and protocol upgrades (WebSocket) pass through.
// Traffic between peers is plain HTTP on the pods' network.
//
// # Failures
//
// A peer that refuses the connection or does not accept within the dial
// timeout is marked down: no request goes to it for a second, then one
// request tries it again; each failed try doubles the wait, up to 30
// seconds; the first answer marks it up. Each replica keeps its own view.
// A peer that accepts connections but answers slowly is waited for, as the
// client would wait for it directly: streams and long polls are legitimate,
// and the client's (or the server's WriteTimeout) deadline applies.
//
// When the owner is down, the request goes to the next live peer in the
// key's order, at once if the connection to the owner failed: nothing had
// been sent. A request that reached a peer which then failed is never sent
// again, since it may have been applied; the client gets 502 Bad Gateway.
// A request whose body could not be read from the client while it was
// sent (a malformed chunk, more than a MaxBytesHandler allows) gets 400 or
// 413 and counts against no peer: a client cannot take the replica its
// routing key picks out of rotation.
//
// What the next peer does depends on where sessions live:
//
//   - Shared sessions (the default: an external or hybrid store): it serves
//     the request and finds the session in the shared store. The user sees
//     nothing of the outage.
//   - Local sessions ([WithLocalSessions]): the next peer does not have the
//     session, and serving would log the user out for good, while a
//     StatefulSet pod restarts with its volume in seconds. So for up to the
//     hold given, from when this replica found the owner down, the user gets
//     503 Service Unavailable with Retry-After (the seconds until the owner
//     is tried again) and Cache-Control: no-store; a write is not applied,
//     and clients and browsers may retry. When the owner is back, the user
//     is still logged in. After the hold, the next peer serves: the user
//     starts a new session there (logged out), and, when the owner comes
//     back, is routed back to it, where that newer session does not exist.
//     A new client, without a routing cookie, has no session to wait for:
//     it is given a key that a live replica owns.
//
// # Observing
//
// An [Observer] ([WithObserver]) is told each request's route (local,
// received, forwarded, fallback, held, failed) and each peer going down and
// coming back; package metrics/prometheus's Collector is one.
//
// # Goroutines
//
// With WithPeerDNS, New starts one goroutine that resolves the name;
// [Router.Close] stops it and closes idle connections to peers.
package affinity
