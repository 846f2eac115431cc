package memcachestore_test

import (
	"context"
	"log"
	"net"
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

	// The servers run with -I 2m, which the default limits assume: a
	// record of up to 1 MiB, the same limit as on every backend.
	st := memcachestore.New(client, memcachestore.WithKeyPrefix("shop:"))
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

// A client whose connections are reset when they are closed. gomemcache
// closes a connection whose command timed out; with the default close, the
// kernel keeps retransmitting the command (a write the request answered 503
// for) and memcached applies it if the link recovers within that time. A
// reset discards it: a write then lands within the client's Timeout of being
// sent, or not at all. Compiled, not run.
func ExampleNew_resetOnClose() {
	client := memcache.New("10.0.0.1:11211")
	client.Timeout = 300 * time.Millisecond
	client.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			if err := tc.SetLinger(0); err != nil {
				c.Close()
				return nil, err
			}
		}
		return c, nil
	}
	defer client.Close()
	_ = memcachestore.New(client)
}
