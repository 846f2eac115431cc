package affinity_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tether-go/tether/affinity"
)

// BenchmarkForward compares a request served by the node it reached
// (direct: that node owns the key) with one that node forwards to the
// owner over loopback (forwarded), one client on keep-alive connections.
// The difference is the cost of the hop; the ratio of ns/op is the ratio
// of requests per second of a serial client.
func BenchmarkForward(b *testing.B) {
	nodes := cluster(b, 2)
	key := keyOwnedBy(b, nodes, 1)
	for _, bc := range []struct {
		name  string
		entry *node
	}{{"direct", nodes[1]}, {"forwarded", nodes[0]}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", "http://"+bc.entry.addr+"/", nil)
			req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
			b.ReportAllocs()
			for b.Loop() {
				res, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.Header.Get("X-Node") != nodes[1].addr {
					b.Fatal("not served by the owner")
				}
			}
		})
	}
}

// BenchmarkForwardParallel is BenchmarkForward with concurrent clients
// (GOMAXPROCS goroutines): the ratio of ns/op is the ratio of the
// throughput one node sustains, directly and through a forwarding node on
// the same machine.
func BenchmarkForwardParallel(b *testing.B) {
	nodes := cluster(b, 2)
	key := keyOwnedBy(b, nodes, 1)
	for _, bc := range []struct {
		name  string
		entry *node
	}{{"direct", nodes[1]}, {"forwarded", nodes[0]}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 256}
			defer tr.CloseIdleConnections()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", "http://"+bc.entry.addr+"/", nil)
				req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
				for pb.Next() {
					res, err := tr.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		})
	}
}
