package affinity_test

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// TestForwardFromUnixSocket: a node served on a Unix socket (behind a
// local proxy that sets X-Forwarded-For) has no client address of its own
// to append, and must still pass the proxy's X-Forwarded-For on to the
// owner rather than drop it: the owner would lose the client's address.
func TestForwardFromUnixSocket(t *testing.T) {
	nodes := cluster(t, 2)
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no unix socket: %v", err)
	}
	srv := &http.Server{Handler: nodes[0].rt.Wrap(nodes[0].handler())}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	req, _ := http.NewRequest("GET", "http://app/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	r := servedByOwner(t, tr, req, nodes, 1)
	if got := r.Header.Get("X-Forwarded-For"); got != "203.0.113.7" {
		t.Fatalf("owner saw X-Forwarded-For %q, want the proxy's 203.0.113.7", got)
	}
}
