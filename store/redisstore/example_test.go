package redisstore_test

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
	"github.com/tether-go/tether/store/redisstore"
)

// Sessions in a single Redis. The example needs a server, so it is compiled
// but not run.
func Example() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  "localhost:6379",
		ContextTimeoutEnabled: true, // calls end at the session manager's deadline
		// Fail fast while Redis is down (see the package documentation).
		DialTimeout:     500 * time.Millisecond,
		DialerRetries:   1,
		MaxRetries:      1,
		MaxRetryBackoff: 64 * time.Millisecond,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
	})
	defer rdb.Close()
	st := redisstore.New(rdb)
	defer st.Close()

	m, err := session.New(session.WithStore(st), session.WithStoreTimeout(time.Second))
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

// A Redis Cluster: the same store, on a cluster client.
func ExampleNew_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"redis-0:6379", "redis-1:6379", "redis-2:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	st := redisstore.New(rdb, redisstore.WithPrefix("shop:"))
	defer st.Close()
	_, _ = session.New(session.WithStore(st))
}

// Sentinel: the same store, on a failover client.
func ExampleNew_sentinel() {
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            "mymaster",
		SentinelAddrs:         []string{"sentinel-0:26379", "sentinel-1:26379", "sentinel-2:26379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	st := redisstore.New(rdb)
	defer st.Close()
	_, _ = session.New(session.WithStore(st))
}

// Following the changes other nodes make, as the hybrid tier does.
func ExampleStore_Notify() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer rdb.Close()
	st := redisstore.New(rdb)
	defer st.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := st.Notify(ctx, func(ev store.Event) {
		switch {
		case ev.Reset:
			log.Print("subscribed: drop everything cached")
		case ev.Lost:
			log.Print("subscription lost: stop trusting the cache")
		default:
			log.Printf("session %.8s… changed", ev.ID)
		}
	})
	log.Print(err)
}
