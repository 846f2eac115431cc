package affinity_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// TestPeerChurnUnderLoad: while DNS answers change every few milliseconds
// (pods joining and leaving, one address that refuses, this node missing
// from its own answer) and requests with many keys run on every node, each
// request is answered 200 by a live node after at most one hop, and
// nothing races (run with -race).
func TestPeerChurnUnderLoad(t *testing.T) {
	ln0, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln0.Addr().String())
	ips := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	lns := []net.Listener{ln0}
	for _, ip := range ips[1:] {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			ln0.Close()
			for _, l := range lns[1:] {
				l.Close()
			}
			t.Skipf("cannot bind %s:%s: %v", ip, port, err)
		}
		lns = append(lns, ln)
	}
	const dead = "127.0.0.4" // nothing listens there
	dns := &dnsAnswers{}
	dns.set(nil, ips...)
	p, _ := strconv.Atoi(port)
	var twoHops atomic.Int64
	nodes := make([]*node, len(ips))
	for i, ip := range ips {
		rt, err := affinity.New(context.Background(), affinity.WithPeerDNS("app-peers", p),
			affinity.WithSelf(net.JoinHostPort(ip, port)), affinity.WithResolver(dns),
			affinity.WithResolveEvery(time.Millisecond), affinity.WithDialTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		nd := &node{addr: net.JoinHostPort(ip, port), ln: lns[i], rt: rt}
		h := nd.handler()
		nd.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Count(r.Header.Get("X-Forwarded-For"), ",") > 0 {
				twoHops.Add(1)
			}
			h.ServeHTTP(w, r)
		})
		nd.start(t)
		t.Cleanup(func() { rt.Close() })
		nodes[i] = nd
	}
	stop := make(chan struct{})
	var flipper, wg sync.WaitGroup
	flipper.Go(func() {
		answers := [][]string{ips, {ips[0], ips[1]}, {ips[1], ips[2], dead}, {ips[2]}, {ips[0], dead}, ips}
		for i := 0; ; i++ {
			select {
			case <-stop:
				dns.set(nil, ips...)
				return
			case <-time.After(2 * time.Millisecond):
			}
			dns.set(nil, answers[i%len(answers)]...)
		}
	})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	var bad atomic.Int64
	var firstBad atomic.Value
	for w := range 6 {
		wg.Go(func() {
			for i := range 60 {
				nd := nodes[(w+i)%len(nodes)]
				req, _ := http.NewRequest("POST", "http://"+nd.addr+"/", strings.NewReader("n="+strconv.Itoa(i)))
				req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: routeKey(rand.IntN(1 << 20))})
				res, err := tr.RoundTrip(req)
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || res.Header.Get("X-Body") != "n="+strconv.Itoa(i) {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("status %d body %q", res.StatusCode, res.Header.Get("X-Body")))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	flipper.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d requests failed, first: %v", n, firstBad.Load())
	}
	if n := twoHops.Load(); n > 0 {
		t.Errorf("%d requests made two hops", n)
	}
}
