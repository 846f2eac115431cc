// Package tetherprom exports what a Tether session manager does as
// Prometheus metrics: store calls with their outcomes and latency, session
// loads by result and source, commit sizes, the events in sessions' lives,
// the counters of hybrid stores' local tiers, and those of Redis stores'
// commit fast path.
//
// The import path ends in prometheus, the package name is tetherprom, so
// that it does not clash with client_golang's prometheus package in the code
// that uses both:
//
//	import (
//		"github.com/prometheus/client_golang/prometheus"
//		tetherprom "github.com/tether-go/tether/metrics/prometheus"
//	)
//
// # Use
//
// A [Collector] is both a [session.Observer] and a prometheus.Collector (and
// an affinity.Observer, see below):
//
//	hs := hybridstore.New(redisstore.New(rdb))
//	c := tetherprom.New(tetherprom.WithHybrid("sessions", hs))
//	prometheus.MustRegister(c)
//	m, err := session.New(session.WithStore(hs), session.WithObserver(c))
//
// It keeps no goroutine and needs no Close. Observing a store call costs a
// few atomic additions and no allocation; hybrid stores' counters are read
// from their Stats when the registry is scraped.
//
// # Metrics
//
// Names below use the default namespace "tether" ([WithNamespace]); every
// metric also carries the labels of [WithConstLabels].
//
//	tether_session_store_calls_total{op,outcome}      counter
//	tether_session_store_call_duration_seconds{op}    histogram, 100µs..1s
//	tether_session_loads_total{result,source}         counter
//	tether_session_commit_bytes                       histogram, 64 B..1 MiB
//	tether_session_commit_keys                        histogram, 1..64
//	tether_session_events_total{event}                counter
//
// op is the store call: load, commit, touch, move (rotation and destroy
// leave a tombstone), delete, user_sessions, delete_user. outcome is ok,
// not_found, conflict (a lost race the session layer resolves: a commit to a
// record another request rotated, a version check that failed), too_large,
// or error (a fault: the store is down, slow past the store timeout, or
// broken). Conflicts are not a separate metric: they are outcome="conflict".
//
// result is hit (a live record), miss (no record: a new visitor's first
// read, an expired or destroyed session, or a rotation tombstone that the
// session then follows, which is also counted as event="forwarded") or
// error. source is where the store answered from: local or remote for a
// hybrid store that reports it, unknown for stores that do not.
//
// event is created, rotated (an explicit Rotate: login, privilege change),
// rotated_periodic (WithRotateEvery), destroyed (logout), expired (a client
// presented the cookie of a session that had ended), invalid_cookie (a
// cookie that cannot hold a valid token: tampering, an old key, a bot),
// forwarded (a rotated-away token used during the grace period) and dropped
// (changes a handler made that were not saved: the session ended while the
// request ran, or the response had already been sent).
//
// With [WithHybrid], per hybrid store, labelled store=name:
//
//	tether_hybrid_hits_total, _misses_total, _loads_total,
//	_revalidations_total, _invalidations_total, _flushes_total,
//	_evictions_total, _remote_errors_total, _stale_serves_total   counters
//	tether_hybrid_entries, tether_hybrid_bytes, tether_hybrid_bypassing   gauges
//
// Their meaning is that of the fields of hybridstore.Stats.
//
// With [WithRedis], per Redis store, labelled store=name:
//
//	tether_redis_fast_commits_total, _fast_declined_total,
//	_fast_conflicts_total   counters
//
// Their meaning is that of the fields of redisstore.Stats: a steady rate of
// conflicts against commits says the commit fast path costs this workload a
// second round trip more often than it saves one script.
//
// Given to affinity.WithObserver, the Collector also counts how an affinity
// Router routes requests:
//
//	tether_affinity_requests_total{route}       counter
//	tether_affinity_peer_changes_total{state}   counter
//
// route is local (this replica owns the request), received (a peer forwarded
// it here), forwarded (sent to its owner), fallback (the owner was down and
// the next peer served), held (the owner was down and sessions are local:
// 503 with Retry-After) or failed (a peer failed after taking the request:
// 502). state is down (a peer could not be reached) or up (it answered
// again). A steady rate of forwarded requests is the cost of a balancer that
// is not sticky; fallback, held and down are outages.
//
// Every series of a known label value exists from the first scrape, at
// zero, so rate() and increase() see the first event.
//
// # Several managers
//
// One Collector may observe several Managers, which then add up. To tell
// them apart, give each its own Collector with different constant labels
// (WithConstLabels(prometheus.Labels{"app": "admin"})) and register both.
package tetherprom
