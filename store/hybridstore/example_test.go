package hybridstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/hybridstore"
	"github.com/tether-go/tether/store/memstore"
	"github.com/tether-go/tether/store/redisstore"
)

// The hybrid tier in front of a store. Here the remote is a memstore, which
// answers versions: each hit is revalidated with a version check. In front of
// Redis or Postgres, notifications keep entries fresh and a hit costs
// nothing.
func Example() {
	remote := memstore.New()
	defer remote.Close()
	hs := hybridstore.New(remote, hybridstore.WithMaxBytes(64<<20))
	defer hs.Close() // does not close remote

	ctx := context.Background()
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	now := time.Now()
	_, err := hs.Commit(ctx, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"cart": []byte("3 items")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		rec, err := hs.Load(ctx, id)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("cart:", string(rec.Values.Get("cart")))
	}
	st := hs.Stats()
	fmt.Printf("remote loads %d, hits %d, version checks %d\n", st.Loads, st.Hits, st.Revalidations)
	// Output:
	// cart: 3 items
	// cart: 3 items
	// cart: 3 items
	// remote loads 1, hits 2, version checks 2
}

// A node of a sticky deployment: sessions in Redis, read from memory while
// routing stays on this node, kept fresh by Redis pub/sub, and served stale
// for up to 30 seconds if Redis goes down.
func Example_redis() {
	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	remote := redisstore.New(rdb)
	defer remote.Close()
	hs := hybridstore.New(remote,
		hybridstore.WithMaxBytes(256<<20),
		hybridstore.WithStaleIfError(30*time.Second),
	)
	defer hs.Close()

	m, err := session.New(session.WithStore(hs))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st := hs.Stats()
		fmt.Fprintf(w, "hits %d misses %d evictions %d flushes %d bypassing %v\n",
			st.Hits, st.Misses, st.Evictions, st.Flushes, st.Bypassing)
	})
	log.Fatal(http.ListenAndServe(":8080", middleware.Sessions(m)(mux)))
}
