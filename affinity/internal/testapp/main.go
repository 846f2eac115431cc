// Command testapp is one replica of the affinity end-to-end test: a session
// app on the memory store, a bbolt file or a hybrid store over Redis, with
// or without an affinity Router in front of it.
//
//	testapp -addr 127.0.0.1:8081 -node a -store bolt -bolt /tmp/a.db \
//		-peers 127.0.0.1:8081,127.0.0.1:8082 -self 127.0.0.1:8081 -local-hold 20s
//
// Every response of the session routes carries X-Node, naming the replica
// that served it (the owner, after a forward). Routes:
//
//	GET  /          visit counter; JSON {"node","user","visits"}
//	POST /login     user=NAME: rotate the token, set the user id
//	GET  /healthz   answered by this replica itself
//	GET  /stats     this replica's hybrid cache counters {"hits","misses"}
//
// It exits with status 0 on SIGTERM after finishing requests in flight.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/affinity"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/redisstore"
)

type flags struct {
	addr, node, storeKind, boltPath, redisAddr, peers, self string
	hold                                                    time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.addr, "addr", "127.0.0.1:0", "listen address")
	flag.StringVar(&f.node, "node", "", "name sent in X-Node")
	flag.StringVar(&f.storeKind, "store", "memory", "memory, bolt or hybrid")
	flag.StringVar(&f.boltPath, "bolt", "", "bbolt file for -store bolt")
	flag.StringVar(&f.redisAddr, "redis", "", "Redis address for -store hybrid")
	flag.StringVar(&f.peers, "peers", "", "comma-separated peer addresses; empty: no affinity")
	flag.StringVar(&f.self, "self", "", "this replica's address among -peers")
	flag.DurationVar(&f.hold, "local-hold", -1, "with affinity, sessions are local: hold the owner's users this long (503) while it is down")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", f.node)
	if err := run(f, log); err != nil {
		log.Error("testapp: " + err.Error())
		os.Exit(1)
	}
}

func run(f flags, log *slog.Logger) error {
	var (
		st    store.Store
		stats = func() hybridstore.Stats { return hybridstore.Stats{} }
	)
	switch f.storeKind {
	case "memory":
		ms := memstore.New()
		defer ms.Close()
		st = ms
	case "bolt":
		bs, err := boltstore.Open(f.boltPath)
		if err != nil {
			return err
		}
		defer bs.Close()
		st = bs
	case "hybrid":
		rdb := redis.NewClient(&redis.Options{Addr: f.redisAddr, ContextTimeoutEnabled: true})
		defer rdb.Close()
		remote := redisstore.New(rdb, redisstore.WithLogger(log))
		defer remote.Close()
		hs := hybridstore.New(remote)
		defer hs.Close()
		st, stats = hs, hs.Stats
	default:
		return fmt.Errorf("unknown -store %q", f.storeKind)
	}
	m, err := session.New(session.WithStore(st), session.WithLogger(log),
		session.WithCookie(session.Cookie{Name: "sid", Path: "/", HTTPOnly: true, Persist: true}))
	if err != nil {
		return err
	}
	defer m.Close()

	app := newApp(f.node)
	var routed http.Handler = middleware.Sessions(m)(app)
	if f.peers != "" {
		opts := []affinity.Option{affinity.WithPeers(strings.Split(f.peers, ",")...), affinity.WithSelf(f.self), affinity.WithLogger(log)}
		if f.hold >= 0 {
			opts = append(opts, affinity.WithLocalSessions(f.hold))
		}
		rt, err := affinity.New(context.Background(), opts...)
		if err != nil {
			return err
		}
		defer rt.Close()
		routed = rt.Wrap(routed)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", f.node)
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		s := stats()
		_ = json.NewEncoder(w).Encode(map[string]uint64{"hits": s.Hits, "misses": s.Misses})
	})
	mux.Handle("/", routed)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "store", f.storeKind, "peers", f.peers)
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type reply struct {
	Node   string `json:"node"`
	User   string `json:"user,omitempty"`
	Visits int    `json:"visits,omitempty"`
}

func newApp(node string) http.Handler {
	write := func(w http.ResponseWriter, r reply) {
		r.Node = node
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		visits, _ := session.Get[int](s, "visits")
		visits++
		s.Set("visits", visits)
		write(w, reply{User: s.UserID(), Visits: visits})
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		s.SetUserID(r.FormValue("user"))
		write(w, reply{User: s.UserID()})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", node)
		mux.ServeHTTP(w, r)
	})
}
