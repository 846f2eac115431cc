package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

// NodeEnv is the environment variable that turns the test binary into an
// app node: it holds the node's [NodeConfig] as JSON. TestMain calls
// [MaybeRunNode] first.
const NodeEnv = "TETHER_CHAOS_NODE"

// Backends a node can run on.
const (
	BackendRedis     = "redis"          // redisstore on one redis-server
	BackendCluster   = "redis-cluster"  // redisstore on a Redis Cluster
	BackendSentinel  = "redis-sentinel" // redisstore on a failover client
	BackendPostgres  = "postgres"       // pgstore
	BackendMemcached = "memcached"      // memcachestore
	BackendBolt      = "bolt"           // boltstore, a file of the node's own
)

// NodeConfig is what an app node runs: its address, its store, and the
// client settings under test.
type NodeConfig struct {
	Name    string
	Addr    string // listen address; "127.0.0.1:0" picks one
	Backend string
	Addrs   []string // store addresses (Redis, Redis Cluster seeds, sentinels, memcached)
	DSN     string   // Postgres
	Bolt    string   // bbolt file
	Hybrid  bool     // a hybridstore in front of the store
	// RedisDefaults builds the go-redis client with its defaults (plus
	// ContextTimeoutEnabled) instead of the settings the README recommends.
	RedisDefaults bool
	Prefix        string // key prefix / table name, unique per scenario
}

// MaybeRunNode runs an app node and exits if the environment asks for one
// (NodeEnv), and returns otherwise.
func MaybeRunNode() {
	raw := os.Getenv(NodeEnv)
	if raw == "" {
		return
	}
	var cfg NodeConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "chaos node: bad %s: %v\n", NodeEnv, err)
		os.Exit(2)
	}
	if err := runNode(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "chaos node %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runNode serves the app until SIGTERM (or forever: the harness usually
// SIGKILLs it). It prints "listening ADDR" on stdout once it accepts.
func runNode(cfg NodeConfig) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", cfg.Name)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, closeStore, err := storeFor(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	m, err := session.New(
		session.WithStore(st),
		session.WithCookie(session.Cookie{Name: CookieName, Path: "/", HTTPOnly: true, SameSite: http.SameSiteLaxMode}),
		session.WithRotateEvery(RotateEvery),
		session.WithLogger(log),
	)
	if err != nil {
		return err
	}
	defer m.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewApp(cfg.Name, m), ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CookieName is the session cookie; NGINX hashes on it.
const CookieName = "sid"

// RotateEvery is the periodic rotation the nodes run with, so that users'
// tokens also change under them (with a grace period) during faults.
const RotateEvery = 3 * time.Second

// Reply is the JSON body of every app route.
type Reply struct {
	Node   string            `json:"node"`
	User   string            `json:"user,omitempty"`
	Found  bool              `json:"found,omitempty"`
	Value  string            `json:"value,omitempty"`
	Values map[string]string `json:"values,omitempty"`
}

// valuePrefix namespaces the users' keys in the session.
const valuePrefix = "kv."

// NewApp returns the app's routes behind the session middleware, plus
// /healthz and /debug, which touch no session.
//
//	POST /login?user=U  rotate (a change of privilege) and set the user id
//	POST /rotate        rotate
//	POST /set?k=K&v=V   set K (the reply says whose session it landed in)
//	GET  /get?k=K       read K
//	GET  /all           every key
//	POST /logout        destroy the session
func NewApp(node string, m *session.Manager) http.Handler {
	write := func(w http.ResponseWriter, r Reply) {
		r.Node = node
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Node", node)
		_ = json.NewEncoder(w).Encode(r)
	}
	app := http.NewServeMux()
	app.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		s.SetUserID(r.FormValue("user"))
		write(w, Reply{User: r.FormValue("user")})
	})
	app.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Rotate()
		write(w, Reply{User: s.UserID()})
	})
	app.HandleFunc("POST /set", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		user := s.UserID() // a load: the reply says whose session took the write
		s.Set(valuePrefix+r.FormValue("k"), r.FormValue("v"))
		write(w, Reply{User: user})
	})
	app.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		v, ok := session.Get[string](s, valuePrefix+r.FormValue("k"))
		write(w, Reply{User: s.UserID(), Found: ok, Value: v})
	})
	app.HandleFunc("GET /all", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		vals := map[string]string{}
		for _, k := range s.Keys() {
			if rest, ok := strings.CutPrefix(k, valuePrefix); ok {
				vals[rest], _ = session.Get[string](s, k)
			}
		}
		write(w, Reply{User: s.UserID(), Values: vals})
	})
	app.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		session.From(r.Context()).Destroy()
		write(w, Reply{})
	})
	mux := http.NewServeMux()
	mux.Handle("/", middleware.Sessions(m)(app))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Node", node)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /debug", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(readRuntime())
	})
	return mux
}

// Runtime is a node's resource use, for the soak.
type Runtime struct {
	Goroutines int
	HeapBytes  uint64
	OpenFDs    int
}

func readRuntime() Runtime {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, _ := os.ReadDir("/proc/self/fd")
	return Runtime{Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc, OpenFDs: len(fds)}
}
