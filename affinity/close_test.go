package affinity_test

import (
	"io"
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/tether-go/tether/affinity"
)

// TestCloseWithForwardInFlight: a forward still under way when Close is
// called (a server shutting down drains it after) leaves no connection to
// the peer behind once it is done: its keep-alive connection would hold
// two goroutines here and one on the peer until the idle timeout.
func TestCloseWithForwardInFlight(t *testing.T) {
	nodes := newCluster(t, 2)
	entered, release := make(chan struct{}), make(chan struct{})
	nodes[1].inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	for _, nd := range nodes {
		nd.start(t)
	}
	key := keyOwnedBy(t, nodes, 1)
	before := goleak.IgnoreCurrent()
	done := make(chan *http.Response)
	go func() {
		req, _ := http.NewRequest("GET", "http://"+nodes[0].addr+"/", nil)
		req.AddCookie(&http.Cookie{Name: affinity.DefaultCookieName, Value: key})
		res, err := noKeepAlive.RoundTrip(req)
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		done <- res
	}()
	<-entered
	nodes[0].rt.Close()
	close(release)
	if res := <-done; res == nil || res.StatusCode != 200 {
		t.Fatalf("in-flight forward: %v", res)
	}
	goleak.VerifyNone(t, before)
}

// TestForwardAfterClose: a request that reaches a closed Router (the
// server still drains, or Close came first) is still routed and answered,
// and leaves no connection to the peer behind.
func TestForwardAfterClose(t *testing.T) {
	nodes := cluster(t, 2)
	key := keyOwnedBy(t, nodes, 1)
	before := goleak.IgnoreCurrent()
	nodes[0].rt.Close()
	if res := get(t, nodes[0].addr, key); res.StatusCode != 200 || res.Header.Get("X-Node") != nodes[1].addr {
		t.Fatalf("after Close: status %d from %q", res.StatusCode, res.Header.Get("X-Node"))
	}
	goleak.VerifyNone(t, before)
}
