package apps

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/redisstore"
)

// newTether builds the Tether app on its memory store, on Redis, or on the
// hybrid store over Redis. Every option not listed is Tether's default
// (redisstore publishes invalidations, JSON codec, bare-token cookie).
func (a *App) newTether(cfg Config) error {
	var st store.Store
	switch a.Store {
	case "memory":
		ms := memstore.New()
		a.onClose(ms.Close)
		st = ms
	case "redis", "hybrid", "hybrid-miss":
		rdb := a.newRedisClient(cfg.RedisAddr)
		rs := redisstore.New(rdb, redisstore.WithPrefix(cfg.Prefix))
		a.onClose(rs.Close)
		st = rs
		if a.Store != "redis" {
			var hopts []hybridstore.Option
			if a.Store == "hybrid-miss" {
				// Every local entry is too old to serve the moment it
				// is stored: each read loads from Redis, as a miss does.
				hopts = append(hopts, hybridstore.WithMaxAge(time.Nanosecond))
			}
			hs := hybridstore.New(rs, hopts...)
			a.onClose(hs.Close)
			a.ready = func(ctx context.Context) error { return waitSubscribed(ctx, hs) }
			st = hs
		}
	default:
		return fmt.Errorf("apps: tether has no %q store", a.Store)
	}
	opts := []session.Option{
		session.WithStore(st),
		session.WithIdleTimeout(IdleTimeout),
		session.WithLifetime(Lifetime),
		session.WithCookie(session.Cookie{Name: CookieName, Path: "/", Secure: true, HTTPOnly: true,
			SameSite: http.SameSiteLaxMode, Persist: true}),
	}
	if cfg.RotateEvery > 0 {
		opts = append(opts, session.WithRotateEvery(cfg.RotateEvery))
	}
	m, err := session.New(opts...)
	if err != nil {
		return err
	}
	a.onClose(m.Close)

	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("name", "alice")
		s.Set("n", 0)
		writeString(w, "ok")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		name, _ := session.Get[string](session.From(r.Context()), "name")
		writeString(w, name)
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "n")
		s.Set("n", n+1)
		writeString(w, strconv.Itoa(n+1))
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Set(r.URL.Query().Get("k"), "v")
		writeString(w, "ok")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Set("user", "alice")
		s.Rotate()
		writeString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		prefix := r.URL.Query().Get("prefix")
		n := 0
		for _, k := range session.From(r.Context()).Keys() {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		writeString(w, strconv.Itoa(n))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		writeString(w, "ok")
	})
	a.Handler = middleware.Sessions(m)(mux)
	return nil
}

// waitSubscribed waits until the hybrid store's invalidation subscription is
// up; until then it serves every read from Redis.
func waitSubscribed(ctx context.Context, hs *hybridstore.Store) error {
	for hs.Stats().Bypassing {
		select {
		case <-ctx.Done():
			return fmt.Errorf("apps: hybrid store still bypassing: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
