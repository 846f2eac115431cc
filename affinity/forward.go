package affinity

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// attempt is one forward of a request to a peer, found by the proxy's
// hooks in the request's context.
type attempt struct {
	route    RouteData // what is observed when the peer answers
	peer     string
	err      error       // what the proxy's ErrorHandler was given
	answered bool        // the peer's response headers arrived
	bodyRead atomic.Bool // the transport started reading the request body
	// bodyErr is the error reading the client's request body returned, if
	// any: the client's fault (a malformed chunk, a body over a
	// MaxBytesHandler's limit), not the peer's.
	bodyErr atomic.Pointer[error]
}

type attemptKey struct{}

func newTransport(dialTimeout time.Duration) *http.Transport {
	return &http.Transport{
		// No Proxy: peer traffic must not follow HTTP_PROXY.
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
}

func (rt *Router) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:    rewrite,
		Transport:  rt.transport,
		BufferPool: &bufferPool{},
		// The response headers arrived: the peer is up, and the route is
		// known, though the body may stream for a long time yet.
		ModifyResponse: func(res *http.Response) error {
			ctx := res.Request.Context()
			if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
				a.answered = true
				if rt.peers.ok(a.peer) {
					rt.peerChanged(ctx, PeerData{Peer: a.peer, Up: true})
				}
				rt.routed(ctx, a.route)
			}
			return nil
		},
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			// The Router answers: it may still send the request elsewhere.
			if a, ok := r.Context().Value(attemptKey{}).(*attempt); ok {
				a.err = err
			}
		},
		ErrorLog: slog.NewLogLogger(rt.log.Handler(), slog.LevelWarn),
	}
}

// rewrite sends the request to the attempt's peer as the client sent it:
// same Host (virtual hosts and origin checks keep working), the forwarding
// headers this node received (X-Forwarded-Proto: https added when this
// node terminated TLS), and this node's client appended to
// X-Forwarded-For, as a proxy does. The hop marker stops the peer from
// routing it again.
func rewrite(pr *httputil.ProxyRequest) {
	a := pr.In.Context().Value(attemptKey{}).(*attempt)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = a.peer
	pr.Out.Host = pr.In.Host
	pr.Out.Header.Set(HopHeader, "1")
	for _, h := range [...]string{"Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := pr.In.Header[h]; v != nil {
			pr.Out.Header[h] = v
		}
	}
	// This node terminated TLS itself and forwards in plain HTTP: the owner
	// must still see an HTTPS request (redirects to HTTPS, Secure cookies).
	if pr.In.TLS != nil && pr.In.Header["X-Forwarded-Proto"] == nil {
		pr.Out.Header.Set("X-Forwarded-Proto", "https")
	}
	// A connection without an IP (a Unix socket behind a local proxy) adds
	// no entry, but the proxy's entries still go on.
	xff := strings.Join(pr.In.Header["X-Forwarded-For"], ", ")
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if xff != "" {
			xff += ", "
		}
		xff += ip
	}
	if xff != "" {
		pr.Out.Header.Set("X-Forwarded-For", xff)
	}
	if pr.Out.Body != nil {
		pr.Out.Body = &trackedBody{ReadCloser: pr.Out.Body, a: a}
	}
}

// trackedBody records that the transport began sending the body: from
// then on the peer may have the request, and it is never sent elsewhere.
type trackedBody struct {
	io.ReadCloser
	a *attempt
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.a.bodyRead.Store(true)
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.a.bodyErr.CompareAndSwap(nil, &err)
	}
	return n, err
}

// clientFault returns the status that answers an attempt that failed
// because the client's request body could not be read, and 0 when the
// body was not the cause.
func (a *attempt) clientFault() int {
	p := a.bodyErr.Load()
	if p == nil {
		return 0
	}
	if _, tooLarge := errors.AsType[*http.MaxBytesError](*p); tooLarge {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// canRetry reports whether the attempt failed before anything reached the
// peer: the connection could not be made, and no byte of the body was read.
// A request that may have reached the peer is never sent twice: it may have
// been applied (a payment, a login) before the peer failed.
func (a *attempt) canRetry() bool {
	var op *net.OpError
	return !a.bodyRead.Load() && errors.As(a.err, &op) && op.Op == "dial"
}

// forward sends r to the route's peer and streams the answer to w. It
// returns the attempt, whose err is nil when the peer answered.
func (rt *Router) forward(w http.ResponseWriter, r *http.Request, route RouteData) *attempt {
	a := &attempt{route: route, peer: route.Peer}
	rt.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), attemptKey{}, a)))
	if rt.closed.Load() {
		// The connection went back to the pool, which Close emptied
		// already: nothing would close it before the idle timeout.
		rt.transport.CloseIdleConnections()
	}
	return a
}

// bufferPool lends the proxy its copy buffers, so a forwarded response
// does not allocate 32 KiB.
type bufferPool struct{ p sync.Pool }

const copyBufferSize = 32 << 10

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		buf = buf[:copyBufferSize]
		b.p.Put(&buf)
	}
}
