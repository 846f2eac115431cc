package testserver

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server, for fault tests. It can freeze:
// while frozen it holds every byte in both directions, as a stalled link (a
// network partition, a server that stopped answering) would, without closing
// any connection; thawing delivers what was held. And it can lose a reply:
// let one request reach the server, swallow the server's answer and close the
// client's connection, as a connection that broke after the server acted but
// before the client heard.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	closed bool
	conns  []net.Conn
	stuck  map[net.Conn]bool // frozen by FreezeOpen, until Thaw
	// loseReplyTo is the marker of the request whose reply the proxy loses
	// next, nil for none; lost counts replies lost so far.
	loseReplyTo []byte
	lost        int
	// held counts chunks read from one side and not yet written to the
	// other (held while frozen, or being written).
	held int
	wg   sync.WaitGroup
}

// NewProxy starts a proxy on a free loopback port in front of target. It is
// closed, with every connection through it, when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testserver: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Freeze holds every byte in both directions until Thaw.
func (p *Proxy) Freeze() { p.set(true) }

// Thaw delivers what Freeze or FreezeOpen held and lets traffic flow again.
func (p *Proxy) Thaw() { p.set(false) }

// FreezeOpen freezes only the connections open now: one stalled connection
// (a LISTEN, a pub/sub subscription) while new ones work. Thaw releases them.
func (p *Proxy) FreezeOpen() {
	p.mu.Lock()
	p.stuck = make(map[net.Conn]bool, len(p.conns))
	for _, c := range p.conns {
		p.stuck[c] = true
	}
	p.mu.Unlock()
}

// LoseReplyTo arms the proxy to lose one reply: the next chunk a client sends
// that contains marker is forwarded to the server, the server's next answer
// on that connection is read and dropped, and both sides of the connection
// are closed. The server has acted on the request when the client's
// connection breaks. A later call replaces a marker not met yet.
func (p *Proxy) LoseReplyTo(marker string) {
	p.mu.Lock()
	p.loseReplyTo = []byte(marker)
	p.mu.Unlock()
}

// Held returns how many chunks of data the proxy has read and not yet passed
// on: after Thaw, zero means that what the freeze held has been delivered.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Lost returns how many replies the proxy has lost.
func (p *Proxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

func (p *Proxy) set(frozen bool) {
	p.mu.Lock()
	p.frozen = frozen
	if !frozen {
		p.stuck = nil
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		lose := make(chan struct{}, 1) // a request whose reply is to be lost went out
		p.wg.Add(2)
		go p.pipe(in, out, lose, nil)
		go p.pipe(out, in, nil, lose)
	}
}

// pipe copies src to dst, holding data while the proxy is frozen. Client to
// server (armed != nil), it signals armed before forwarding the request whose
// reply is to be lost; server to client (lose != nil), it then drops the next
// data and closes both connections.
func (p *Proxy) pipe(src, dst net.Conn, armed chan<- struct{}, lose <-chan struct{}) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			p.held++
			for (p.frozen || p.stuck[src]) && !p.closed {
				p.cond.Wait()
			}
			closed := p.closed
			if armed != nil && p.loseReplyTo != nil && bytes.Contains(buf[:n], p.loseReplyTo) {
				p.loseReplyTo = nil
				armed <- struct{}{}
			}
			p.mu.Unlock()
			if closed {
				p.done(false)
				return
			}
			select {
			case <-lose:
				p.done(true)
				return // the reply is dropped; the defers close both sides
			default:
			}
			_, werr := dst.Write(buf[:n])
			p.done(false)
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// done accounts for a chunk passed on or dropped (lost: a reply lost).
func (p *Proxy) done(lost bool) {
	p.mu.Lock()
	p.held--
	if lost {
		p.lost++
	}
	p.mu.Unlock()
}
