// Command benchserver serves one app of package apps on a loopback port, for
// the HTTP load runs of cmd/benchrun: one process per app, so that apps do not
// share a heap, a garbage collector or a scheduler.
//
// A second listener (the admin address) serves what the harness needs and the
// measured requests must not pay for: the app's Redis command counts
// (/redis, /redis/reset), its own CPU time (/cpu) and net/http/pprof
// (/debug/pprof/).
//
// It prints one JSON line, {"addr": ..., "admin": ...}, once both listeners
// are up, and stops on SIGTERM or SIGINT, or when its standard input closes
// (the harness died).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tether-go/tether/bench/apps"
)

func main() {
	name := flag.String("app", "", "app to serve (see package apps)")
	redisAddr := flag.String("redis", "", "Redis address for the apps that use one")
	prefix := flag.String("prefix", "", "Redis key prefix (default: the app's name)")
	rotateEvery := flag.Duration("rotate-every", 0, "Tether's periodic rotation (0: off)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchserver: ")

	a, err := apps.New(*name, apps.Config{RedisAddr: *redisAddr, Prefix: *prefix, RotateEvery: *rotateEvery})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = a.Ready(ctx)
	cancel()
	if err != nil {
		log.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ErrorLog: log.New(io.Discard, "", 0)}
	admin := &http.Server{Handler: adminMux(a)}
	go srv.Serve(ln)
	go admin.Serve(adminLn)
	json.NewEncoder(os.Stdout).Encode(map[string]string{"addr": ln.Addr().String(), "admin": adminLn.Addr().String()})

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stop:
	case <-stdinClosed:
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	admin.Shutdown(ctx)
}

func adminMux(a *apps.App) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/redis", func(w http.ResponseWriter, r *http.Request) {
		if a.Counter == nil {
			http.Error(w, "no redis", http.StatusNotFound)
			return
		}
		cmds, rt := a.Counter.Snapshot()
		json.NewEncoder(w).Encode(map[string]any{"commands": cmds, "round_trips": rt})
	})
	mux.HandleFunc("/redis/reset", func(w http.ResponseWriter, r *http.Request) {
		if a.Counter != nil {
			a.Counter.Reset()
		}
		fmt.Fprintln(w, "ok")
	})
	// /cpu is the process' own CPU time so far (getrusage(RUSAGE_SELF):
	// every thread, microsecond resolution), for CPU per request.
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]int64{
			"user_us": ru.Utime.Sec*1e6 + ru.Utime.Usec,
			"sys_us":  ru.Stime.Sec*1e6 + ru.Stime.Usec,
		})
	})
	// /runtime is the Go runtime's own account (runtime/metrics): where the
	// CPU time went by class (GC, scavenger, user code) and what was
	// allocated, so a difference in CPU per request can be split into the
	// collector's share and the rest without a profile.
	mux.HandleFunc("/runtime", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(runtimeMetrics())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return mux
}
