package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/pgstore"
)

// A session manager on Postgres. (Not run by go test: it needs a database.)
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	st, err := pgstore.New(ctx, pool,
		pgstore.WithTable("sessions"),
		pgstore.WithReapInterval(10*time.Minute),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	m, err := session.New(session.WithStore(st), session.WithIdleTimeout(30*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
		fmt.Fprintf(w, "visit %d\n", n+1)
	})
	log.Fatal(http.ListenAndServe(":8080", middleware.Sessions(m)(mux)))
}

// The schema, for migrations run by other means than New.
func ExampleDDL() {
	ddl, err := pgstore.DDL(pgstore.WithSchema("app"), pgstore.WithTable("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(ddl)
	// Then: pgstore.New(ctx, pool, pgstore.WithSchema("app"), pgstore.WithTable("sessions"), pgstore.WithCreateTable(false))

	// Output:
	// CREATE TABLE IF NOT EXISTS "app"."sessions" (
	// 	id        text        PRIMARY KEY,
	// 	vals      jsonb       NOT NULL DEFAULT '{}',
	// 	user_id   text,
	// 	created   timestamptz NOT NULL,
	// 	last_seen timestamptz NOT NULL,
	// 	expires   timestamptz NOT NULL,
	// 	version   bigint      NOT NULL,
	// 	moved_to  text,
	// 	sealed    bytea,
	// 	attrs     bytea
	// );
	// CREATE INDEX IF NOT EXISTS "sessions_user_id_idx" ON "app"."sessions" (user_id) WHERE user_id IS NOT NULL;
	// CREATE INDEX IF NOT EXISTS "sessions_expires_idx" ON "app"."sessions" (expires);
	// ALTER TABLE "app"."sessions" ADD COLUMN IF NOT EXISTS attrs bytea;
}

// Change notifications, as the hybrid tier consumes them. (Not run by go
// test: it needs a database.)
func ExampleStore_Notify() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	st, err := pgstore.New(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	err = st.Notify(ctx, func(ev store.Event) {
		switch {
		case ev.Reset:
			log.Print("listening: drop everything cached before now")
		case ev.Lost:
			log.Print("notifications interrupted: stop trusting the cache")
		default:
			log.Printf("record %.8s… changed: evict it", ev.ID)
		}
	})
	log.Print(err) // ctx's error, once cancelled
}
