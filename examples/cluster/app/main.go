// Command app is one node of the cluster example: a small session app on
// Tether's hybrid store, a local cache in each process in front of one
// shared Redis. Run several behind a sticky load balancer (see ../run.sh and
// the NGINX configurations beside it): a user's requests are served from the
// memory of the node they stick to, and when that node dies the next node
// finds the session in Redis — still logged in, nothing stale.
//
//	app -addr 127.0.0.1:8081 -redis 127.0.0.1:6379 -node node1
//
// Every response carries the header X-Node naming the node that served it.
// Routes (JSON replies):
//
//	POST /              count a visit (a state change, so never a GET)
//	GET  /              read the visit counter
//	POST /login         user=NAME: rotate the token, set the user id
//	GET  /whoami        the user, or 401
//	POST /set?k=K&v=V   store V under K in the session
//	GET  /get?k=K       read K from the session
//	POST /logout        destroy the session
//	GET  /healthz       liveness and readiness; touches no session
//	GET  /stats         the node's cache counters; touches no session
//
// Flags default to the environment variables ADDR, REDIS_ADDR, BOLT_PATH and
// NODE_NAME, which is how the Kubernetes manifests in examples/kubernetes
// configure it. With -bolt (BOLT_PATH) the node keeps its sessions in that
// file on local disk (store/boltstore) instead of Redis: the StatefulSet
// variant, one file per pod on the pod's own volume.
//
// Behind a load balancer that is not sticky (a plain Kubernetes Service,
// round-robin), give the node its peers with -peers (a fixed list, for
// example StatefulSet pod names) or -peer-dns (a headless Service's
// name:port): each user is then served by the node that owns it, which
// forwards requests it receives for others (package affinity). -self names
// this node among them; in Kubernetes, the POD_IP environment variable does.
// With -bolt, sessions live on their node only, and while a node is down
// its users get 503 with Retry-After for up to -local-hold rather than
// being logged out by another node.
// The node exits gracefully on SIGTERM or SIGINT: it stops accepting
// connections, finishes the requests in flight (up to 5 seconds), then
// closes the session manager, the stores and the Redis client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	tetherprom "github.com/tether-go/tether/metrics/prometheus"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/redisstore"
)

// CookieName is the session cookie. The NGINX configurations hash on it
// ($cookie_sid), and an ingress controller's routing cookie must be named
// otherwise.
const CookieName = "sid"

// shutdownTimeout bounds how long a stopping node waits for requests in
// flight.
const shutdownTimeout = 5 * time.Second

func main() {
	host, _ := os.Hostname()
	addr := flag.String("addr", envOr("ADDR", "localhost:8080"), "listen address (env ADDR)")
	redisAddr := flag.String("redis", envOr("REDIS_ADDR", "localhost:6379"), "Redis address (env REDIS_ADDR)")
	node := flag.String("node", envOr("NODE_NAME", host), "node name sent in the X-Node header (env NODE_NAME)")
	secure := flag.Bool("secure-cookie", true, "mark the session cookie Secure; browsers and curl still send it to localhost over plain HTTP")
	cacheBytes := flag.Int64("cache-bytes", 32<<20, "bound of the node's local session cache, in bytes")
	boltPath := flag.String("bolt", envOr("BOLT_PATH", ""), "keep sessions in this bbolt file instead of Redis (env BOLT_PATH)")
	var aff affinityFlags
	flag.StringVar(&aff.peers, "peers", envOr("PEERS", ""), "route each user to its node among these comma-separated host:port addresses, this node's included (env PEERS)")
	flag.StringVar(&aff.peerDNS, "peer-dns", envOr("PEER_DNS", ""), "route each user to its node among the addresses of this name:port, a headless Service (env PEER_DNS)")
	flag.StringVar(&aff.self, "self", envOr("SELF", ""), "this node's address among the peers (env SELF; default: from POD_IP)")
	flag.DurationVar(&aff.localHold, "local-hold", 30*time.Second, "with -bolt and affinity: how long a lost node's users get 503 with Retry-After before another node serves them, logged out")
	flag.Parse()
	aff.bolt = *boltPath != ""

	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", *node)
	if err := run(*addr, *redisAddr, *boltPath, *node, *secure, *cacheBytes, aff, log); err != nil {
		log.Error("app: " + err.Error())
		os.Exit(1)
	}
}

func run(addr, redisAddr, boltPath, node string, secure bool, cacheBytes int64, aff affinityFlags, log *slog.Logger) error {
	var (
		st      store.Store
		stats   func() any
		metrics *tetherprom.Collector
	)
	if boltPath != "" {
		// Fails at once, saying why, if another process holds the file or
		// it is damaged: the pod restarts rather than serving without its
		// sessions.
		bs, err := boltstore.Open(boltPath)
		if err != nil {
			return err
		}
		defer bs.Close()
		st = bs
		stats = func() any { n, _ := bs.Len(); return map[string]any{"store": "bolt", "records": n} }
		metrics = tetherprom.New()
		redisAddr = ""
	} else {
		rdb := redis.NewClient(&redis.Options{
			Addr: redisAddr,
			// Lets the session manager's store timeout cut a call to a Redis
			// that stopped answering short.
			ContextTimeoutEnabled: true,
			// While Redis is down, answer 503 in milliseconds rather than
			// after five dial retries and three resends: the settings the
			// README recommends, measured by `make chaos` (RELIABILITY.md).
			DialTimeout:     500 * time.Millisecond,
			DialerRetries:   1,
			MaxRetries:      1,
			MaxRetryBackoff: 64 * time.Millisecond,
			ReadTimeout:     time.Second,
			WriteTimeout:    time.Second,
		})
		defer rdb.Close()
		remote := redisstore.New(rdb, redisstore.WithLogger(log))
		defer remote.Close()
		hybrid := hybridstore.New(remote, hybridstore.WithMaxBytes(cacheBytes))
		defer hybrid.Close()
		st = hybrid
		stats = func() any { return hybrid.Stats() }
		metrics = tetherprom.New(tetherprom.WithHybrid("sessions", hybrid))
	}

	// Each node exposes its own metrics; Prometheus scrapes every pod.
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics, collectors.NewGoCollector())

	m, err := session.New(
		session.WithStore(st),
		session.WithIdleTimeout(30*time.Minute),
		session.WithLifetime(24*time.Hour),
		session.WithCookie(session.Cookie{
			Name:     CookieName,
			Path:     "/",
			Secure:   secure,
			HTTPOnly: true,
			SameSite: http.SameSiteLaxMode,
			Persist:  true,
		}),
		session.WithLogger(log),
		session.WithObserver(metrics),
	)
	if err != nil {
		return err
	}
	defer m.Close()

	var route func(http.Handler) http.Handler
	if aff.enabled() {
		start, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rt, err := aff.newRouter(start, log, metrics)
		cancel()
		if err != nil {
			return err
		}
		defer rt.Close()
		route = rt.Wrap
		log.Info("routing by affinity", "self", rt.Self(), "peers", rt.Peers())
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", newHandler(node, m, stats, route))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "redis", redisAddr, "bolt", boltPath)

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
