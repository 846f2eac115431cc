package loadgen

// Slices against servers that stall, stream for ever or close connections:
// it must fail, not hang, and leave nothing behind.

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawServer accepts connections and hands each to serve, closing them all
// (and the listener) at cleanup, so that a Slices left blocked on them
// returns.
func rawServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// okServer is a well-behaved target.
func okServer(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// wantFailureWithin runs Slices on cfg and wants it to return an error
// within limit: a hang fails the test (Slices is then left blocked until
// cleanup closes the hostile server's connections).
func wantFailureWithin(t *testing.T, limit time.Duration, cfg SlicesConfig, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Slices(cfg)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("Slices against %s: no error", what)
		}
	case <-time.After(limit):
		t.Fatalf("Slices against %s did not return within %v of a %v slice", what, limit, cfg.Slice)
	}
}

// TestSlicesFailsOnSilentServer: a target that reads requests and never
// answers (a stalled or deadlocked server) fails the run once Timeout has
// passed after its slice (the default, or the one asked for), instead of
// holding it for ever.
func TestSlicesFailsOnSilentServer(t *testing.T) {
	silent := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			// never answer
		}
	})
	wantFailureWithin(t, 2*time.Second, SlicesConfig{
		Targets: []Target{{Addr: okServer(t), Path: "/"}, {Addr: silent, Path: "/"}},
		Conns:   2, Slice: 10 * time.Millisecond, Rounds: 1,
	}, "a server that never answers")
	// A Timeout asked for is the one used (the default above is 1 s).
	wantFailureWithin(t, 700*time.Millisecond, SlicesConfig{
		Targets: []Target{{Addr: silent, Path: "/"}},
		Conns:   1, Slice: 10 * time.Millisecond, Rounds: 1, Timeout: 100 * time.Millisecond,
	}, "a server that never answers, with a 100 ms Timeout")
}

// TestSlicesFailsOnEndlessBody: a 200 whose chunked body never ends (a
// streaming or stuck handler) fails the run after Timeout.
func TestSlicesFailsOnEndlessBody(t *testing.T) {
	endless := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
		for {
			if _, err := c.Write([]byte("1\r\nx\r\n")); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	wantFailureWithin(t, 2*time.Second, SlicesConfig{
		Targets: []Target{{Addr: endless, Path: "/"}},
		Conns:   1, Slice: 10 * time.Millisecond, Rounds: 1,
	}, "a body that never ends")
}

// TestSlicesLeavesNothing: after Slices returns, on success and on failure,
// no goroutine of it is left and every connection is closed on the server's
// side.
func TestSlicesLeavesNothing(t *testing.T) {
	var (
		mu     sync.Mutex
		open   int
		closed = make(chan struct{}, 64)
	)
	track := func(s *httptest.Server) {
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case http.StateNew:
				open++
			case http.StateClosed, http.StateHijacked:
				open--
				closed <- struct{}{}
			}
		}
		s.Start()
		t.Cleanup(s.Close)
	}
	good := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	bad := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	}))
	track(good)
	track(bad)
	before := runtime.NumGoroutine()
	for _, tg := range [][]*httptest.Server{{good}, {good, bad}} {
		var targets []Target
		for _, s := range tg {
			targets = append(targets, Target{Addr: strings.TrimPrefix(s.URL, "http://"), Path: "/"})
		}
		_, err := Slices(SlicesConfig{Targets: targets, Conns: 4, Slice: 5 * time.Millisecond, Rounds: 3})
		if closes := len(tg) > 1; (err != nil) != closes {
			t.Errorf("%d targets (one closing its connections: %v): %v", len(targets), closes, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		o := open
		mu.Unlock()
		if o == 0 || time.Now().After(deadline) {
			if o != 0 {
				t.Errorf("%d connections still open on the servers' side", o)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The servers' own goroutines are gone with their connections; what
	// is left above the start is Slices'.
	time.Sleep(50 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
