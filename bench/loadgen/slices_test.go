package loadgen

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sliceServer counts what a Slices target sees: requests, connections,
// cookies, and the order in which targets were under load.
type sliceServer struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    int64
	conns   int
	cookies map[string]int
	status  int
}

func newSliceServer(t *testing.T, name string, log *[]string, logMu *sync.Mutex) *sliceServer {
	s := &sliceServer{cookies: map[string]int{}, status: http.StatusOK}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs++
		s.cookies[r.Header.Get("Cookie")]++
		status := s.status
		s.mu.Unlock()
		logMu.Lock()
		if n := len(*log); n == 0 || (*log)[n-1] != name {
			*log = append(*log, name)
		}
		logMu.Unlock()
		w.WriteHeader(status)
		w.Write([]byte("ok"))
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestSlices(t *testing.T) {
	var (
		log   []string
		logMu sync.Mutex
	)
	names := []string{"a", "b", "c"}
	var servers []*sliceServer
	var targets []Target
	for _, n := range names {
		s := newSliceServer(t, n, &log, &logMu)
		servers = append(servers, s)
		targets = append(targets, Target{Addr: strings.TrimPrefix(s.URL, "http://"), Path: "/none", Cookies: []string{"s=" + n + "1", "s=" + n + "2", "s=" + n + "3"}})
	}
	const rounds, conns = 12, 4
	res, err := Slices(SlicesConfig{Targets: targets, Conns: conns, Slice: 10 * time.Millisecond, Rounds: rounds, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Counts) != rounds {
		t.Fatalf("%d rounds of counts, want %d", len(res.Counts), rounds)
	}
	for i, s := range servers {
		var counted int64
		for r := range rounds {
			if res.Counts[r][i] <= 0 {
				t.Errorf("round %d, target %s: %d requests counted", r, names[i], res.Counts[r][i])
			}
			counted += res.Counts[r][i]
		}
		s.mu.Lock()
		if res.Served[i] != s.reqs {
			t.Errorf("target %s: Served %d, the server saw %d", names[i], res.Served[i], s.reqs)
		}
		if counted > res.Served[i] {
			t.Errorf("target %s: counted %d of %d served", names[i], counted, res.Served[i])
		}
		// Connections stay open for the whole run: a slice that
		// connected would pay for it.
		if s.conns != conns {
			t.Errorf("target %s: %d connections, want %d", names[i], s.conns, conns)
		}
		for _, c := range targets[i].Cookies {
			if s.cookies[c] == 0 {
				t.Errorf("target %s: cookie %s never sent (saw %v)", names[i], c, s.cookies)
			}
		}
		s.mu.Unlock()
	}
	// One slice at a time, every target once per round, in orders that
	// differ between rounds: the servers saw the slices in the order the
	// result reports (a target that ran twice in a row, at the end of one
	// round and the start of the next, shows once in their log).
	var want []string
	orders := map[string]bool{}
	for r, order := range res.Order {
		if got := slices.Sorted(slices.Values(order)); !slices.Equal(got, []int{0, 1, 2}) {
			t.Errorf("round %d ran targets %v, want each once", r, order)
		}
		var o string
		for _, i := range order {
			o += names[i]
			if len(want) == 0 || want[len(want)-1] != names[i] {
				want = append(want, names[i])
			}
		}
		orders[o] = true
	}
	if !slices.Equal(log, want) {
		t.Errorf("the servers saw slices in the order %v, want %v", log, want)
	}
	if len(orders) < 3 {
		t.Errorf("%d distinct orders in %d rounds: %v", len(orders), rounds, orders)
	}
}

// TestSlicesFailsOnError: a target that answers anything but 200 fails the
// run instead of counting its errors as throughput.
func TestSlicesFailsOnError(t *testing.T) {
	var (
		log   []string
		logMu sync.Mutex
	)
	ok := newSliceServer(t, "ok", &log, &logMu)
	bad := newSliceServer(t, "bad", &log, &logMu)
	bad.status = http.StatusServiceUnavailable
	_, err := Slices(SlicesConfig{
		Targets: []Target{{Addr: strings.TrimPrefix(ok.URL, "http://"), Path: "/"}, {Addr: strings.TrimPrefix(bad.URL, "http://"), Path: "/"}},
		Conns:   2, Slice: 5 * time.Millisecond, Rounds: 3,
	})
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Fatalf("Slices with a target answering 503: %v, want an error naming the status", err)
	}
}
