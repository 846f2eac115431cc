package affinity_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tether-go/tether/affinity"
)

// TestStreamsResponses: a forwarded response reaches the client as the
// owner flushes it, not when it ends; the route is observed when the
// owner's headers arrive.
func TestStreamsResponses(t *testing.T) {
	rec := &recorder{}
	nodes := newCluster(t, 2, affinity.WithObserver(rec))
	release := make(chan struct{})
	nodes[1].inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	key := keyOwnedBy(t, nodes, 1)
	req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/events", nil)
	req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
	res, err := noKeepAlive.RoundTrip(req)
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	got := make(chan string, 1)
	go func() { line, _ := br.ReadString('\n'); got <- line }()
	select {
	case line := <-got:
		if line != "data: first\n" {
			t.Errorf("first line %q", line)
		}
		if d := rec.lastRoute(); d.Route != affinity.RouteForwarded || d.Peer != nodes[1].addr {
			t.Errorf("while streaming: observed %+v, want forwarded to %s", d, nodes[1].addr)
		}
	case <-time.After(5 * time.Second):
		t.Error("the first event did not arrive before the response ended")
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Errorf("rest %q", rest)
	}
}

// TestUpgrade: a connection upgrade (WebSocket and the like) passes through
// the forwarding node both ways.
func TestUpgrade(t *testing.T) {
	nodes := newCluster(t, 2)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	for _, nd := range nodes {
		nd.inner = echo
		nd.start(t)
	}
	upgrade := func(cookie string) {
		t.Helper()
		c, err := net.Dial("tcp", nodes[0].addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"+cookie+"\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%q: status %d", cookie, res.StatusCode)
		}
		io.WriteString(c, "hello\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "echo: hello\n" {
			t.Fatalf("%q: read %q, %v", cookie, line, err)
		}
	}
	upgrade("Cookie: " + affinity.DefaultCookieName + "=" + keyOwnedBy(t, nodes, 1) + "\r\n")
	// A new client's first request may be the upgrade: served here or
	// forwarded, through the writer that adds no-store.
	for range 8 {
		upgrade("")
	}
}
