package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// growthTargets: bytes per session in Redis ≤ the leanest peer format's;
// memstore and hybrid overhead ≤ 300 bytes beyond keys and values; user
// operations O(1) round trips in the number of sessions.
func (rep *report) growthTargets() []target {
	g := rep.growth
	if g == nil || len(g.ns) == 0 {
		return nil
	}
	var ts []target
	big := g.ns[len(g.ns)-1]
	row := func(prefix string, n int) (growthRow, bool) {
		for _, r := range g.rows {
			if r.n == n && strings.HasPrefix(r.what, prefix) {
				return r, true
			}
		}
		return growthRow{}, false
	}
	// alone is the sessions without their user index against the leanest
	// peer: the like-for-like comparison of the formats.
	alone := func(lean float64) string {
		if a, ok := row("tether redisstore, sessions alone", big); ok {
			return fmt.Sprintf("; the sessions alone, without the user index, %.0f B: %.3f×", a.bytes, div(a.bytes, lean))
		}
		return ""
	}
	if t, ok := row("tether redisstore (", big); ok {
		s, _ := row("scs", big)
		gr, _ := row("gorilla", big)
		lean, leanName := s.bytes, "scs"
		if gr.bytes < lean {
			lean, leanName = gr.bytes, "gorilla"
		}
		ts = append(ts, target{
			name:     fmt.Sprintf("Redis bytes per session at %s small sessions, tether (user index included) ÷ leanest peer format (%s, no user index)", thousands(float64(big)), leanName),
			goal:     "≤ 1.00×",
			measured: fmt.Sprintf("**%.3f×**; %.0f B vs %.0f B (scs %.0f B, gorilla %.0f B)%s", div(t.bytes, lean), t.bytes, lean, s.bytes, gr.bytes, alone(lean)),
			met:      t.bytes <= lean,
		})
	}
	for _, p := range []string{"tether memstore", "tether hybridstore"} {
		if r, ok := row(p, big); ok {
			over := r.bytes - r.payload
			ts = append(ts, target{
				name:     fmt.Sprintf("%s: Go heap per session beyond ID, user ID, keys and values, at %s sessions", strings.TrimPrefix(p, "tether "), thousands(float64(big))),
				goal:     "≤ 300 B",
				measured: fmt.Sprintf("**%.0f B** (%.0f B per session, %.0f B of it contents)", over, r.bytes, r.payload),
				met:      over <= 300,
			})
		}
	}
	byBackend := map[string][]userOpRow{}
	var order []string
	for _, u := range g.users {
		if _, ok := byBackend[u.backend]; !ok {
			order = append(order, u.backend)
		}
		byBackend[u.backend] = append(byBackend[u.backend], u)
	}
	for _, b := range order {
		rows := byBackend[b]
		if rows[0].listRT < 0 {
			continue // no round trips to count
		}
		first, last := rows[0], rows[len(rows)-1]
		ok := last.listRT <= first.listRT && last.delRT <= first.delRT
		ts = append(ts, target{
			name:     fmt.Sprintf("UserSessions and DeleteUser round trips, %s, %d → %d sessions per user", b, first.sessions, last.sessions),
			goal:     "O(1): no more at the largest",
			measured: fmt.Sprintf("**%s → %s; %s → %s**", num(first.listRT), num(last.listRT), num(first.delRT), num(last.delRT)),
			met:      ok,
		})
	}
	return ts
}

func (rep *report) writeGrowth(w func(string, ...any)) {
	g := rep.growth
	if g == nil {
		return
	}
	w("## 2c. How cost grows\n\n")
	w("A small session: 3 keys, 194 bytes of values (JSON strings for Tether, Go strings under gob for the peers), a 43-character ID and a user ID. Go heap: `HeapAlloc` after two `runtime.GC()` before and after filling the store, divided by the sessions. Redis: `used_memory` (INFO memory) before and after, on a flushed redis-server of the growth run's own; Tether's figure includes its user index (one sorted set per user, here one user per session), the peers have none. *Contents* is ID + user ID + keys + values. The run took %v.\n\n", g.elapsed.Round(time.Second))
	w("### Bytes per session\n\n| store | sessions | bytes per session | of it contents | overhead beyond contents | note |\n|---|---|---|---|---|---|\n")
	for _, r := range g.rows {
		c, o := "–", "–"
		if r.payload > 0 {
			c, o = fmt.Sprintf("%.0f", r.payload), fmt.Sprintf("%.0f", r.bytes-r.payload)
		}
		w("| %s | %s | %.0f | %s | %s | %s |\n", r.what, thousands(float64(r.n)), r.bytes, c, o, r.note)
	}
	w("\n")
	if len(g.usage) > 0 {
		w("`MEMORY USAGE` and `OBJECT ENCODING` of one session's keys: %s.\n\n", strings.Join(g.usage, "; "))
	}
	for _, name := range slices.Sorted(maps.Keys(g.profiles)) {
		w("<details><summary>In-use heap with the sessions in %s</summary>\n\n```\n%s```\n\n</details>\n\n", name, g.profiles[name])
	}
	if len(g.resident) > 0 {
		w("### Reads with the sessions resident in memstore\n\n4 goroutines × 50,000 `Load`s of random sessions while two full collections (`runtime.GC()`) run; the pause is the longest stop-the-world pause (MemStats.PauseNs) of the collections during the reads.\n\n")
		w("| sessions | live heap | Load p50 | Load p99 | GCs | longest GC pause |\n|---|---|---|---|---|---|\n")
		for _, r := range g.resident {
			w("| %s | %.0f MiB | %s | %s | %d | %s |\n", thousands(float64(r.n)), r.heapMB, dur(float64(r.p50)), dur(float64(r.p99)), r.gcs, dur(float64(r.maxPause)))
		}
		w("\n")
	}
	if len(g.users) > 0 {
		w("### User operations\n\nOne user with *k* sessions; median of 5 users, for the times and the round trips alike (redisstore checks Redis's maxmemory-policy once a minute, in whichever write finds the check due: one round trip more for that call, whatever *k*). Round trips: what the store's go-redis client sent (a pipeline or a script is one); Postgres: statements and batches the pgx pool sent (pgx tracer; BEGIN and COMMIT count).\n\n")
		w("| backend | sessions per user | UserSessions | round trips | DeleteUser | round trips |\n|---|---|---|---|---|---|\n")
		for _, u := range g.users {
			lr, dr := "–", "–"
			if u.listRT >= 0 {
				lr, dr = num(u.listRT), num(u.delRT)
			}
			w("| %s | %s | %s | %s | %s | %s |\n", u.backend, thousands(float64(u.sessions)), dur(float64(u.listLat)), lr, dur(float64(u.delLat)), dr)
		}
		w("\n")
	}
	if r := g.reap; r != nil {
		w("### Postgres reaper\n\n%s expired records (table %s MiB before): reaped in %v (%.0f records/s). Concurrent `Load` latency p99: %v before, %v while the reaper ran. %s\n\n",
			thousands(float64(r.n)), fmt.Sprintf("%.1f", float64(r.tableBefore)/(1<<20)), r.elapsed.Round(time.Millisecond), r.rate, dur(float64(r.p99Before)), dur(float64(r.p99During)), r.note)
	}
	for _, n := range g.notes {
		w("- %s\n", n)
	}
	if len(g.notes) > 0 {
		w("\n")
	}
}
