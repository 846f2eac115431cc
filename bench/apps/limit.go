package apps

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Limits are the physical limits the session apps are measured against
// (issue 20): servers with no session library whose /read does the least
// any session store must do. limit-redis makes exactly one Redis round trip,
// a GET of a small value; limit-map reads a Go map under a read lock. They
// serve /seed, /read and /none only, and take part in the HTTP and
// constant-rate runs of /read (the other harness sections iterate All).
var Limits = []Info{
	{Name: "limit-redis", Library: "limit", Store: "redis", UsesRedis: true,
		Rotation: "-", Lifetimes: "the key's TTL (30 min), never extended"},
	{Name: "limit-map", Library: "limit", Store: "map",
		Rotation: "-", Lifetimes: "-"},
}

// HybridMiss is Tether's hybrid store with local entries that are never
// fresh enough to serve (WithMaxAge(1ns)), so that every read is a miss: it
// measures the hybrid store's miss path next to its hit path (tether-hybrid)
// in the constant-rate run. (A cache too small to hold a record, with
// WithMaxBytes(1), does not do it: the cache evicts asynchronously, so reads
// right after a write still hit.)
var HybridMiss = Info{Name: "tether-hybrid-miss", Library: "tether", Store: "hybrid-miss", UsesRedis: true,
	Rotation: "as tether-hybrid", Lifetimes: "as tether-hybrid"}

// newLimit builds a limit app. The cookie is the same shape as the session
// apps' (43 characters of base64url), so that requests are the same size.
func (a *App) newLimit(cfg Config) {
	var (
		put func(ctx context.Context, token string) error
		get func(ctx context.Context, token string) (string, error)
	)
	switch a.Store {
	case "redis":
		rdb := a.newRedisClient(cfg.RedisAddr)
		put = func(ctx context.Context, token string) error {
			return rdb.Set(ctx, cfg.Prefix+token, "alice", IdleTimeout).Err()
		}
		get = func(ctx context.Context, token string) (string, error) {
			v, err := rdb.Get(ctx, cfg.Prefix+token).Result()
			if errors.Is(err, redis.Nil) {
				return "", nil
			}
			return v, err
		}
	default:
		var mu sync.RWMutex
		m := map[string]string{}
		put = func(_ context.Context, token string) error {
			mu.Lock()
			m[token] = "alice"
			mu.Unlock()
			return nil
		}
		get = func(_ context.Context, token string) (string, error) {
			mu.RLock()
			v := m[token]
			mu.RUnlock()
			return v, nil
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 32)
		rand.Read(b)
		token := base64.RawURLEncoding.EncodeToString(b)
		if err := put(r.Context(), token); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", Secure: true, HttpOnly: true,
			SameSite: http.SameSiteLaxMode, MaxAge: int(IdleTimeout.Seconds())})
		writeString(w, "ok")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		var v string
		if c, err := r.Cookie(CookieName); err == nil {
			if v, err = get(r.Context(), c.Value); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		writeString(w, v)
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) { writeString(w, "ok") })
	a.Handler = mux
}
