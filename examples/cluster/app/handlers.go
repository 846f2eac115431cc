package main

import (
	"encoding/json"
	"net/http"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// reply is the JSON body of every session route. The walk in run.sh and
// cluster_test.go reads it, with the X-Node header, to see which node served
// and what that node found in the session.
type reply struct {
	Node   string `json:"node"`
	User   string `json:"user,omitempty"`
	Visits int    `json:"visits,omitempty"`
	Key    string `json:"key,omitempty"`
	Value  string `json:"value,omitempty"`
	Found  *bool  `json:"found,omitempty"`
	Error  string `json:"error,omitempty"`
}

// newHandler returns the app: the session routes behind the session
// middleware, /healthz and /stats beside it, and the X-Node header on every
// response a node answers itself, the middleware's error responses
// included (an affinity Router's own 503 and 502 carry none).
//
// stats reports the node's cache counters for /stats; nil leaves the route
// out. route, if not nil, wraps the session routes (an affinity Router's
// Wrap): /healthz and /stats are answered by every node itself.
func newHandler(node string, m *session.Manager, stats func() any, route func(http.Handler) http.Handler) http.Handler {
	write := func(w http.ResponseWriter, code int, r reply) {
		r.Node = node
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(r)
	}

	app := http.NewServeMux()
	// The visit counter: a read and a write of the session. It changes
	// state, so it is a POST: a load balancer may resend a GET to another
	// node when the first one dies mid-request (NGINX's
	// proxy_next_upstream), which would count one visit twice; it never
	// resends a POST that reached a node.
	app.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		visits, _ := session.Get[int](s, "visits")
		visits++
		s.Set("visits", visits)
		write(w, http.StatusOK, reply{User: s.UserID(), Visits: visits})
	})
	// GET / only reads the counter: safe to repeat, like every GET.
	app.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		visits, _ := session.Get[int](s, "visits")
		write(w, http.StatusOK, reply{User: s.UserID(), Visits: visits})
	})
	app.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user")
		if user == "" {
			write(w, http.StatusBadRequest, reply{Error: "user required"})
			return
		}
		s := session.From(r.Context())
		s.Rotate() // a new token on every change of privilege: no session fixation
		s.SetUserID(user)
		write(w, http.StatusOK, reply{User: user})
	})
	app.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		user := s.UserID()
		if user == "" {
			write(w, http.StatusUnauthorized, reply{Error: "not logged in"})
			return
		}
		visits, _ := session.Get[int](s, "visits")
		write(w, http.StatusOK, reply{User: user, Visits: visits})
	})
	app.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		k, v := r.FormValue("k"), r.FormValue("v")
		if k == "" {
			write(w, http.StatusBadRequest, reply{Error: "k required"})
			return
		}
		// A write without a read: the session needs no load for it.
		session.From(r.Context()).Set("kv."+k, v)
		write(w, http.StatusOK, reply{Key: k, Value: v})
	})
	app.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		k := r.FormValue("k")
		if k == "" {
			write(w, http.StatusBadRequest, reply{Error: "k required"})
			return
		}
		s := session.From(r.Context())
		v, ok := session.Get[string](s, "kv."+k)
		write(w, http.StatusOK, reply{User: s.UserID(), Key: k, Value: v, Found: &ok})
	})
	app.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
		write(w, http.StatusOK, reply{})
	})

	// X-Node names the node that ran the handler: behind an affinity
	// Router, the owner, so it is set inside the route.
	named := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Node", node)
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	sessions := named(middleware.Sessions(m)(app))
	if route != nil {
		sessions = route(sessions)
	}
	mux.Handle("/", sessions)
	// Probes never touch a session or the store: a Redis outage must not
	// make every node fail its probes at once.
	mux.Handle("GET /healthz", named(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})))
	if stats != nil {
		mux.Handle("GET /stats", named(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"node": node, "cache": stats()})
		})))
	}
	return mux
}
