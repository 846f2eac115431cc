// Command basic serves a visit counter, login with token rotation, logout, and
// flash messages, on Tether's embedded memory store.
//
//	go run ./examples/basic
//	curl -c jar -b jar localhost:8080/
//	curl -c jar -b jar -d user=alice localhost:8080/login
//	curl -c jar -b jar localhost:8080/
//	curl -c jar -b jar -X POST localhost:8080/logout
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	flag.Parse()

	// The cookie keeps its secure defaults (Secure, HttpOnly, SameSite=Lax):
	// browsers and curl accept Secure cookies on plain-HTTP localhost, so
	// the example works as it will behind TLS in production.
	m, err := session.New(
		session.WithIdleTimeout(15*time.Minute), // default 30 minutes
		session.WithLifetime(8*time.Hour),       // default 24 hours
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	srv := &http.Server{
		Addr:              *addr,
		Handler:           middleware.Sessions(m)(newApp(m)),
		ReadHeaderTimeout: 5 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	slog.Info("serving", "addr", "http://"+*addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func newApp(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		visits, _ := session.Get[int](s, "visits")
		visits++
		s.Set("visits", visits)
		for _, msg := range s.Flashes() {
			fmt.Fprintf(w, "flash: %s\n", msg)
		}
		if user := s.UserID(); user != "" {
			fmt.Fprintf(w, "hello %s\n", user)
		} else {
			fmt.Fprintln(w, "hello stranger (POST /login with user=NAME)")
		}
		fmt.Fprintf(w, "visits: %d\n", visits)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user")
		if user == "" || session.CheckUserID(user) != nil {
			http.Error(w, "user required: printable, at most 256 bytes", http.StatusBadRequest)
			return
		}
		s := session.From(r.Context())
		s.Rotate() // a new token on every change of privilege: no session fixation
		s.SetUserID(user)
		s.AddFlash("logged in as " + user)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		s.Destroy()
		fmt.Fprintln(w, "logged out")
	})
	mux.HandleFunc("GET /sessions", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		user := s.UserID()
		if user == "" {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		infos, err := m.UserSessions(r.Context(), user)
		if err != nil {
			// The error's text is for the operator's log, not the client:
			// it can name hosts, keys and internals of the store.
			m.Logger().ErrorContext(r.Context(), "listing sessions", "err", err)
			w.Header().Set("Retry-After", "1")
			http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
			return
		}
		for _, in := range infos {
			here := ""
			if in.ID == s.ID() {
				here = " (this one)"
			}
			fmt.Fprintf(w, "%s… created %s, last seen %s%s\n", in.ID[:8], in.Created.Format(time.RFC3339), in.LastSeen.Format(time.RFC3339), here)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok") // never touches the session: no cookie, no store call
	})
	return mux
}
