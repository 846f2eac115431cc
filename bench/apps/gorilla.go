package apps

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/rbcervilla/redisstore/v9"
)

// gorillaOptions are the cookie options of both gorilla apps: MaxAge is the
// idle limit (gorilla has no separate absolute lifetime).
func gorillaOptions() sessions.Options {
	return sessions.Options{Path: "/", MaxAge: int(IdleTimeout.Seconds()), Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode}
}

// gorillaHashKey signs the CookieStore's cookies (the configuration of the
// gorilla/sessions README: an authentication key, no encryption key).
var gorillaHashKey = bytes.Repeat([]byte("tether-bench-hash-key-0123456789"), 2)

// newGorilla builds the gorilla/sessions app on the CookieStore or on
// rbcervilla/redisstore v9 (go-redis v9). gorilla has no middleware: the
// handlers Get the session and Save it after a change, as its README shows.
func (a *App) newGorilla(cfg Config) error {
	var st sessions.Store
	switch a.Store {
	case "cookie":
		cs := sessions.NewCookieStore(gorillaHashKey)
		cs.Options = new(sessions.Options)
		*cs.Options = gorillaOptions()
		cs.MaxAge(cs.Options.MaxAge)
		st = cs
	case "redis":
		rs, err := redisstore.NewRedisStore(context.Background(), a.newRedisClient(cfg.RedisAddr))
		if err != nil {
			return fmt.Errorf("apps: gorilla redisstore: %w", err)
		}
		rs.KeyPrefix(cfg.Prefix)
		rs.Options(gorillaOptions())
		st = rs
	default:
		return fmt.Errorf("apps: gorilla has no %q store", a.Store)
	}
	cookieStore := a.Store == "cookie"

	// get returns the request's session. A cookie that does not decode is a
	// new session for the CookieStore (that is its documented use); for the
	// Redis store an error is a failed load, answered with 503.
	get := func(w http.ResponseWriter, r *http.Request) (*sessions.Session, bool) {
		s, err := st.Get(r, CookieName)
		if err != nil && !cookieStore {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return nil, false
		}
		return s, true
	}
	save := func(w http.ResponseWriter, r *http.Request, s *sessions.Session) bool {
		if err := s.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return false
		}
		return true
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/seed", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		s.Values["name"] = "alice"
		s.Values["n"] = 0
		if save(w, r, s) {
			writeString(w, "ok")
		}
	})
	mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		name, _ := s.Values["name"].(string)
		writeString(w, name)
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		n, _ := s.Values["n"].(int)
		s.Values["n"] = n + 1
		if save(w, r, s) {
			writeString(w, strconv.Itoa(n+1))
		}
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		s.Values[r.URL.Query().Get("k")] = "v"
		if save(w, r, s) {
			writeString(w, "ok")
		}
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		values := maps.Clone(s.Values)
		values["user"] = "alice"
		if !cookieStore && s.ID != "" {
			// gorilla has no rotation: delete the old session (MaxAge < 0
			// deletes the Redis key and expires the cookie) ...
			s.Options.MaxAge = -1
			if !save(w, r, s) {
				return
			}
			// ... and save the values under a fresh ID.
			s = sessions.NewSession(st, CookieName)
			opts := gorillaOptions()
			s.Options, s.IsNew = &opts, true
		}
		s.Values = values
		if save(w, r, s) {
			writeString(w, "ok")
		}
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		s, ok := get(w, r)
		if !ok {
			return
		}
		prefix := r.URL.Query().Get("prefix")
		n := 0
		for k := range s.Values {
			if k, ok := k.(string); ok && strings.HasPrefix(k, prefix) {
				n++
			}
		}
		writeString(w, strconv.Itoa(n))
	})
	mux.HandleFunc("/none", func(w http.ResponseWriter, r *http.Request) {
		writeString(w, "ok")
	})
	a.Handler = mux
	return nil
}
