package memcachestore_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/tether-go/tether/middleware"
	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store/memcachestore"
)

// A session manager on two memcached servers. The example needs the servers,
// so it is compiled but not run.
func Example() {
	client := memcache.New("10.0.0.1:11211", "10.0.0.2:11211")
	client.Timeout = 300 * time.Millisecond // below the manager's store timeout
	client.MaxIdleConns = 64                // about the number of concurrent requests
	defer client.Close()

	st := memcachestore.New(client,
		memcachestore.WithKeyPrefix("shop:"),
		memcachestore.WithMaxItemSize(1<<20-512), // the servers run with -I 1m
	)
	// New has no error result: Ping reports a bad configuration, and
	// whether the servers answer.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := st.Ping(ctx); err != nil {
		log.Fatal(err)
	}

	m, err := session.New(
		session.WithStore(st),
		session.WithIdleTimeout(30*time.Minute),
		session.WithStoreTimeout(time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := session.From(r.Context())
		n, _ := session.Get[int](s, "visits")
		s.Set("visits", n+1)
	})
	log.Fatal(http.ListenAndServe(":8080", middleware.Sessions(m)(mux)))
}
