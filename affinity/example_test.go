package affinity_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/tether-go/tether/affinity"
)

// Two replicas route a browser to the same one, whichever it reaches.
func Example() {
	// Two replicas on loopback; in production, each is a process of its own.
	lnA, _ := net.Listen("tcp", "127.0.0.1:0")
	lnB, _ := net.Listen("tcp", "127.0.0.1:0")
	peers := []string{lnA.Addr().String(), lnB.Addr().String()}
	for _, ln := range []net.Listener{lnA, lnB} {
		self := ln.Addr().String()
		rt, err := affinity.New(context.Background(), affinity.WithPeers(peers...), affinity.WithSelf(self))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer rt.Close()
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, self) // which replica served
		})
		srv := &http.Server{Handler: rt.Wrap(app)}
		go srv.Serve(ln)
		defer srv.Close()
	}

	client := &http.Transport{DisableKeepAlives: true}
	get := func(addr string, cookie *http.Cookie) (string, *http.Response) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := client.RoundTrip(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b), res
	}

	// The first request gets a routing cookie and is served by its owner.
	owner, res := get(peers[0], nil)
	cookie := res.Cookies()[0]
	fmt.Println("cookie:", cookie.Name)
	// Later requests are served by the same replica, whichever they reach.
	for _, addr := range peers {
		served, _ := get(addr, cookie)
		fmt.Println("same replica:", served == owner)
	}
	// Output:
	// cookie: tether_route
	// same replica: true
	// same replica: true
}
