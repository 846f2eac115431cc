package apps

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
)

// newSCS builds the scs app on scs' memstore or its go-redis store, with
// scs' defaults otherwise (gob codec, LoadAndSave middleware).
func (a *App) newSCS(cfg Config) error {
	sm := scs.New()
	switch a.Store {
	case "memory":
		// Never stopped: scs' StopCleanup reads the channel its cleanup
		// goroutine writes when it starts, with no synchronisation (a
		// data race under -race, and a goroutine left running, when it
		// is called before that goroutine got going, as an app closed
		// right after New does). The goroutine ticks once a minute and
		// lives as long as the process, as scs intends.
		sm.Store = memstore.New()
	case "redis":
		sm.Store = goredisstore.NewWithPrefix(a.newRedisClient(cfg.RedisAddr), cfg.Prefix)
	default:
		return fmt.Errorf("apps: scs has no %q store", a.Store)
	}
	sm.IdleTimeout = IdleTimeout
	sm.Lifetime = Lifetime
	sm.Cookie.Name = CookieName
	sm.Cookie.Path = "/"
	sm.Cookie.Secure = true
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Persist = true

	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "name", "alice")
		sm.Put(r.Context(), "n", 0)
		writeString(w, "ok")
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		writeString(w, sm.GetString(r.Context(), "name"))
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n")
		sm.Put(r.Context(), "n", n+1)
		writeString(w, strconv.Itoa(n+1))
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), r.URL.Query().Get("k"), "v")
		writeString(w, "ok")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		sm.Put(r.Context(), "user", "alice")
		writeString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		prefix := r.URL.Query().Get("prefix")
		n := 0
		for _, k := range sm.Keys(r.Context()) {
			if strings.HasPrefix(k, prefix) {
				n++
			}
		}
		writeString(w, strconv.Itoa(n))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		writeString(w, "ok")
	})
	a.Handler = sm.LoadAndSave(mux)
	return nil
}
