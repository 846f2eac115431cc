package main

import (
	"fmt"
	"strings"
)

// instr is redis-server's instructions per request of route on app, one
// figure per round; nil if they were not counted.
func (rep *report) redisInstrOf(route, app string) series {
	if rep.redisInstr == nil {
		return nil
	}
	return rep.redisInstr.per[key{route, app}]
}

// instrText is a series of instruction counts as "6,305 (6,297–6,324)".
func instrText(s series) string {
	return fmt.Sprintf("%s (%s–%s)", thousands(s.median()), thousands(s.min()), thousands(s.max()))
}

// redisReadTarget is the target "Redis CPU per read ≤ gorilla's". Decided
// by instructions, where they were counted (see runRedisInstr): the CPU time
// per request at a constant rate (rc, tether-redis's over gorilla-redis's
// per round; t and g their cells), shown beside them, moves by ±10 % between
// rounds for the same GET.
func (rep *report) redisReadTarget(rc series, t, g *rateStat) target {
	timeText := fmt.Sprintf("%.3f× (%s–%s); %.1f µs vs %.1f µs; per call: %s vs %s", rc.median(), ratio(rc.min()), ratio(rc.max()), t.redisCPU.median(), g.redisCPU.median(), perCall(t), perCall(g))
	ti, gi, li := rep.redisInstrOf("read", "tether-redis"), rep.redisInstrOf("read", "gorilla-redis"), rep.redisInstrOf("read", "limit-redis")
	if len(ti) == 0 || len(gi) == 0 || ti.min() <= 0 || gi.min() <= 0 {
		return target{
			name:     "redis-server CPU per read (constant rate, INFO cpu), tether-redis ÷ gorilla-redis",
			goal:     "≤ 1.00×",
			measured: "**" + strings.Replace(timeText, " ", "** ", 1),
			met:      rc.median() <= 1,
		}
	}
	r := paired(ti, gi, div)
	limit := ""
	if len(li) > 0 {
		limit = "; limit-redis, the same GET with no session library: " + instrText(li)
	}
	tg := target{
		name: fmt.Sprintf("redis-server work per read, tether-redis ÷ gorilla-redis: instructions per request in redis-server under callgrind (%d sessions per app in turn; within about %.0f %% from run to run); its CPU time at a constant rate beside them", instrSessions, 100*instrRunSpread),
		goal: "≤ 1.00×",
		measured: fmt.Sprintf("**%.3f×** in instructions (%s–%s): %s vs %s per request%s; in CPU time (INFO cpu, ±10 %% between rounds for the same command): %s",
			r.median(), ratio(r.min()), ratio(r.max()), instrText(ti), instrText(gi), limit, timeText),
		met: r.median() <= 1,
	}
	if m := r.median(); m > 1-instrRunSpread && m < 1+instrRunSpread {
		tg.verdict = fmt.Sprintf("undecided (within the count's %.0f %% from run to run of 1.00×)", 100*instrRunSpread)
	}
	return tg
}

// instrRunSpread is how far apart two runs' counts of the same app may be
// (see instrSessions): a ratio closer to the goal than that is not read as
// met or not.
const instrRunSpread = 0.02

// redisWriteInstrText is the write row's count of instructions, or "".
func (rep *report) redisWriteInstrText() string {
	t := rep.redisInstrOf("incr", "tether-redis")
	if len(t) == 0 {
		return ""
	}
	var peers []string
	lean := 0.0
	for _, p := range []string{"scs-redis", "gorilla-redis"} {
		if s := rep.redisInstrOf("incr", p); len(s) > 0 {
			peers = append(peers, p+" "+thousands(s.median()))
			if lean == 0 || s.median() < lean {
				lean = s.median()
			}
		}
	}
	if lean == 0 {
		return ""
	}
	return fmt.Sprintf("; instructions per request in redis-server under callgrind: %s against %s (%s the leaner)", instrText(t), strings.Join(peers, ", "), ratio(t.median()/lean))
}

// writeRedisInstr prints the instruction counts in the Redis commands
// section.
func (rep *report) writeRedisInstr(w func(string, ...any)) {
	if rep.redisInstr == nil || len(rep.redisInstr.per) == 0 {
		return
	}
	w("### Instructions per request in redis-server\n\n")
	w("redis-server under valgrind's callgrind, counting only in `readQueryFromClient` (reading, parsing and running the commands, a script's included, and buffering the replies) and `handleClientsWithPendingWrites` (writing them); each app, built in the harness' process against it, serves requests one at a time through its handler (%s); the figure is the instructions between zeroing callgrind's counters and dumping them, over the requests. Left out: the event loop and redis-server's timers, the same whatever the library, and the kernel's share of the socket calls (callgrind counts user space). Median of the rounds (apps in a rotating order), with their range: the figure moves by about 1 % from one round to the next and 2 % from one run to the next, where redis-server's CPU time per request moves by ±10 %.\n\n", instrRoutesText())
	w("| app | route | instructions per request |\n|---|---|---|\n")
	for _, app := range instrApps {
		for _, rt := range instrRoutes {
			if s := rep.redisInstrOf(rt.name, app); len(s) > 0 {
				w("| %s | %s | %s |\n", app, rt.name, instrText(s))
			}
		}
	}
	w("\n")
}

func instrRoutesText() string {
	var parts []string
	for _, rt := range instrRoutes {
		parts = append(parts, fmt.Sprintf("%s requests to `%s`", num(float64(rt.requests)), rt.path))
	}
	return strings.Join(parts, ", ")
}
