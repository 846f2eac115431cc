// Package apps is the benchmark's one small application, written once per
// session library: Tether (memory, Redis, hybrid over Redis), alexedwards/scs
// v2 (memory, go-redis), gorilla/sessions (cookie, go-redis v9), and a
// baseline with no session library.
//
// Every app serves the same routes, idiomatically for its library:
//
//	/seed   start a session: name="alice", n=0
//	/read   read "name" and write it out
//	/incr   read the counter "n", write n+1
//	/set    set key ?k= to "v" without reading anything
//	/login  set "user"="alice" and rotate the session (see Info.Rotation)
//	/keys   count the keys that begin with ?prefix=
//	/none   ignore the session
//
// and uses the same cookie (name "session", Path=/, Secure, HttpOnly,
// SameSite=Lax, persistent) and the same lifetimes where the library has
// them: 30 minutes idle, 24 hours absolute.
package apps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The lifetimes and cookie every app uses.
const (
	IdleTimeout = 30 * time.Minute
	Lifetime    = 24 * time.Hour
	CookieName  = "session"
)

// Info describes an app for the report.
type Info struct {
	Name      string // "tether-redis"
	Library   string // "tether", "scs", "gorilla", "none"
	Store     string // "memory", "redis", "hybrid", "cookie", "-"
	UsesRedis bool
	Rotation  string // how /login rotates
	Lifetimes string // how the idle and absolute limits are kept
}

// All lists the apps in the order the report shows them. Baseline first.
var All = []Info{
	{Name: "none", Library: "none", Store: "-",
		Rotation: "-", Lifetimes: "-"},
	{Name: "tether-memory", Library: "tether", Store: "memory",
		Rotation:  "Session.Rotate: data moves to a new token, the old one dies at once (explicit rotation does not forward); WithRotateEvery rotates periodically and forwards the old token for the grace period (30 s)",
		Lifetimes: "WithIdleTimeout(30m), WithLifetime(24h); reads extend the idle deadline by a touch at most every 3 min"},
	{Name: "tether-redis", Library: "tether", Store: "redis", UsesRedis: true},
	{Name: "tether-hybrid", Library: "tether", Store: "hybrid", UsesRedis: true},
	{Name: "scs-memory", Library: "scs", Store: "memory",
		Rotation:  "SessionManager.RenewToken: deletes the old token's record and issues a new token at commit",
		Lifetimes: "IdleTimeout=30m, Lifetime=24h; with IdleTimeout set, scs re-saves the session on every request that carries a valid cookie"},
	{Name: "scs-redis", Library: "scs", Store: "redis", UsesRedis: true},
	{Name: "gorilla-cookie", Library: "gorilla", Store: "cookie",
		Rotation:  "no server state to rotate: /login rewrites the cookie; the old cookie stays valid until its MaxAge",
		Lifetimes: "Options.MaxAge=1800 (30 min, renewed only by Save; reads do not save, so they do not extend it); no absolute lifetime"},
	{Name: "gorilla-redis", Library: "gorilla", Store: "redis", UsesRedis: true,
		Rotation:  "no rotation API: /login saves with MaxAge=-1 (deletes the old Redis key, expires the cookie), then saves a new session with a fresh ID and the copied values",
		Lifetimes: "Options.MaxAge=1800 (30 min TTL and cookie, renewed only by Save; reads do not save); no absolute lifetime"},
}

func init() {
	for i := range All {
		switch All[i].Name {
		case "tether-redis", "tether-hybrid":
			All[i].Rotation, All[i].Lifetimes = All[1].Rotation, All[1].Lifetimes
		case "scs-redis":
			All[i].Rotation, All[i].Lifetimes = All[4].Rotation, All[4].Lifetimes
		}
	}
}

// NoneControl is a second process of the no-library app: the HTTP run on
// /none pairs it with the first exactly as it pairs every library, so its
// ratio is what the measurement reads for two identical servers, the
// resolution a ratio of the others is read against.
var NoneControl = Info{Name: "none-control", Library: "none", Store: "-", Rotation: "-", Lifetimes: "-"}

// HTTPApps returns, in a new slice, the apps of the HTTP load runs: All,
// Limits and Controls.
func HTTPApps() []Info { return slices.Concat(All, Limits, Controls) }

// Lookup returns the Info of the named app, in All, Limits, HybridMiss or
// Controls.
func Lookup(name string) (Info, bool) {
	for _, in := range append(HTTPApps(), HybridMiss) {
		if in.Name == name {
			return in, true
		}
	}
	return Info{}, false
}

// Config configures an app.
type Config struct {
	// RedisAddr is the Redis server of the apps that use one.
	RedisAddr string
	// Prefix keeps apps that share a Redis apart. Default: the app's name
	// and a colon.
	Prefix string
	// RotateEvery turns on Tether's periodic rotation (with the default
	// 30 s grace). Other libraries have no such feature and ignore it.
	RotateEvery time.Duration
}

// App is a running app. Close it when done.
type App struct {
	Info
	Handler http.Handler
	// Counter counts the Redis commands the app's client sends; nil for
	// apps without Redis.
	Counter *Counter

	ready   func(context.Context) error
	closers []func() error
}

// New builds the named app.
func New(name string, cfg Config) (*App, error) {
	in, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("apps: unknown app %q", name)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = name + ":"
	}
	if in.UsesRedis && cfg.RedisAddr == "" {
		return nil, fmt.Errorf("apps: %s needs a Redis address", name)
	}
	a := &App{Info: in}
	var err error
	switch in.Library {
	case "none":
		a.Handler = newNone()
		if name == NoneContext.Name {
			a.Handler = contextFloor(a.Handler)
		}
	case "tether":
		err = a.newTether(cfg)
	case "scs":
		err = a.newSCS(cfg)
	case "gorilla":
		err = a.newGorilla(cfg)
	case "limit":
		a.newLimit(cfg)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Ready waits until the app can serve at full speed: for the hybrid store,
// until its invalidation subscription is up (before that it passes every
// read through to Redis).
func (a *App) Ready(ctx context.Context) error {
	if a.ready == nil {
		return nil
	}
	return a.ready(ctx)
}

// Close releases what New started, in reverse order.
func (a *App) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

func (a *App) onClose(f func() error) { a.closers = append(a.closers, f) }

// newNone is the baseline: the same mux and routes with no session library,
// registered in the session apps' order (a ServeMux looks a few routes up by
// a linear scan, so the order is part of what a request costs).
func newNone() http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { writeString(w, "ok") }
	for _, p := range []string{"/seed", "/read", "/incr"} {
		mux.HandleFunc(p, ok)
	}
	// The routes with a query parse it, as the session apps do, so that
	// subtracting the baseline leaves the session library's cost alone.
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		_ = r.URL.Query().Get("k")
		writeString(w, "ok")
	})
	mux.HandleFunc("/login", ok)
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		_ = r.URL.Query().Get("prefix")
		writeString(w, "0")
	})
	mux.HandleFunc("/none", ok)
	return mux
}

func writeString(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(s))
}
