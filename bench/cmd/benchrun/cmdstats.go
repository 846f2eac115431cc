package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/bench/apps"
)

// cmdRoutes are the routes whose Redis commands are counted.
var cmdRoutes = []struct{ name, path string }{
	{"read", "/read"},
	{"incr", "/incr"},
	{"set", "/set?k=last"},
	{"none", "/none"},
	{"login", "/login"},
}

// cmdCount is the Redis work of one (route, app), per request.
type cmdCount struct {
	server     map[string]float64 // INFO commandstats: every command the server ran, scripts' included
	client     map[string]float64 // what the app's client sent
	roundTrips float64
	// serverUsec is the time Redis spent per request on the commands the
	// client sent (commandstats usec; a script's usec includes the commands
	// it runs, which are not added again).
	serverUsec float64
}

// harnessCommands are the harness's own commands, left out of the counts.
func harnessCommand(name string) bool {
	return name == "info" || strings.HasPrefix(name, "config")
}

// countCommands measures, for each Redis app and route, n sequential
// requests of one fresh session: CONFIG RESETSTAT, the requests, INFO
// commandstats; the app's client-side counter is reset and read alongside.
func countCommands(ctx context.Context, rdb *redis.Client, servers map[string]*server, n int) (map[key]*cmdCount, error) {
	out := map[key]*cmdCount{}
	for _, in := range apps.All {
		if !in.UsesRedis {
			continue
		}
		s := servers[in.Name]
		for _, rt := range cmdRoutes {
			var j apps.Jar
			if code, _, err := get(s, &j, "/seed"); err != nil || code != http.StatusOK {
				return nil, fmt.Errorf("%s /seed: %d %v", in.Name, code, err)
			}
			// Warm up: the first read after a seed may touch; connections.
			for range 3 {
				if _, _, err := get(s, &j, rt.path); err != nil {
					return nil, err
				}
			}
			if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
				return nil, err
			}
			if resp, err := http.Get("http://" + s.admin + "/redis/reset"); err != nil {
				return nil, err
			} else {
				resp.Body.Close()
			}
			for range n {
				code, _, err := get(s, &j, rt.path)
				if err != nil || code != http.StatusOK {
					return nil, fmt.Errorf("%s %s: %d %v", in.Name, rt.path, code, err)
				}
			}
			info, err := rdb.Info(ctx, "commandstats").Result()
			if err != nil {
				return nil, err
			}
			c := &cmdCount{server: map[string]float64{}, client: map[string]float64{}}
			stats := parseCommandStats(info)
			for name, st := range stats {
				if !harnessCommand(name) {
					c.server[name] = float64(st.calls) / float64(n)
				}
			}
			cl, rtrips, err := clientCounts(s)
			if err != nil {
				return nil, err
			}
			for name, calls := range cl {
				c.client[name] = float64(calls) / float64(n)
				c.serverUsec += float64(stats[name].usec) / float64(n)
			}
			c.roundTrips = float64(rtrips) / float64(n)
			out[key{rt.name, in.Name}] = c
		}
		progress("Redis commands: %s", in.Name)
	}
	return out, nil
}

// parseCommandStats reads INFO commandstats lines such as
// "cmdstat_evalsha:calls=100,usec=2345,...".
type cmdStat struct{ calls, usec int64 }

func parseCommandStats(info string) map[string]cmdStat {
	out := map[string]cmdStat{}
	for l := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		var st cmdStat
		for f := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				st.calls, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := strings.CutPrefix(f, "usec="); ok {
				st.usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = st
	}
	return out
}

func clientCounts(s *server) (map[string]int64, int64, error) {
	resp, err := http.Get("http://" + s.admin + "/redis")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Commands   map[string]int64 `json:"commands"`
		RoundTrips int64            `json:"round_trips"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, 0, err
	}
	return v.Commands, v.RoundTrips, nil
}
