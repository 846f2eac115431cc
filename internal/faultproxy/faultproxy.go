// Package faultproxy is a TCP proxy for tests that puts network faults
// between a client and a real server: a lost reply (the server carried out
// the command, its answer never arrives and the connection closes), a stall
// (every byte held in both directions, no FIN, no RST, then delivered),
// added latency, connection resets (RST on every open connection) and a black
// hole (every byte dropped, nothing answered, until it is lifted). These are
// the faults a client library's retries and a store's idempotence must
// survive: a resent write that already applied, a write that lands after its
// caller gave up, a pool of dead connections.
//
// A Proxy is safe for concurrent use.
package faultproxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy relays every connection accepted on its address to one target.
type Proxy struct {
	ln     net.Listener
	target string

	lose   atomic.Int32 // replies still to lose
	lost   atomic.Int64
	stalls atomic.Int64

	latency atomic.Int64 // time.Duration added to every chunk relayed
	resets  atomic.Int64

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	closed  bool
	conns   map[net.Conn]net.Conn // each end of a relayed connection to its peer
	// hole is set while the proxy is a black hole; dropped holds the
	// connections that lost bytes to it (or were accepted during it), closed
	// when it is lifted since their streams are broken.
	hole    bool
	dropped map[net.Conn]bool
	wg      sync.WaitGroup
}

// New listens on a free loopback port and relays to target (host:port).
// Close stops it.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}, dropped: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients dial instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// LoseReply makes the proxy lose the next reply from the server on any
// connection: the bytes are dropped and both sides of that connection are
// closed, so the client sees its connection die after the server acted.
func (p *Proxy) LoseReply() { p.lose.Add(1) }

// Lost is how many replies the proxy lost so far.
func (p *Proxy) Lost() int64 { return p.lost.Load() }

// Stalls is how many stalls the proxy began so far.
func (p *Proxy) Stalls() int64 { return p.stalls.Load() }

// Stall holds every byte in both directions for d, then delivers what it
// held, as a congested or partitioned link would. It returns at once.
func (p *Proxy) Stall(d time.Duration) {
	p.Freeze()
	time.AfterFunc(d, p.Thaw)
}

// Freeze holds every byte in both directions until Thaw.
func (p *Proxy) Freeze() {
	p.stalls.Add(1)
	p.set(true)
}

// Thaw delivers what Freeze held and relays as usual again.
func (p *Proxy) Thaw() { p.set(false) }

// SetLatency delays every chunk of data relayed, in both directions, by d
// (0 removes the delay): a slow link. Chunks of one direction stay in order.
func (p *Proxy) SetLatency(d time.Duration) { p.latency.Store(int64(d)) }

// Reset closes every relayed connection with a TCP RST on both sides, as a
// restarted middlebox or a server's crash would, and returns how many
// client connections it reset. New connections work as before.
func (p *Proxy) Reset() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	// Every end gets linger 0 before any is closed: a relay that sees its
	// other end die closes this one, and must send an RST, not a FIN.
	for c := range p.conns {
		if c.LocalAddr().String() == p.Addr() {
			n++ // the client's end
		}
		noLinger(c)
	}
	for c := range p.conns {
		c.Close()
	}
	p.resets.Add(int64(n))
	return n
}

// Resets is how many client connections Reset has reset so far.
func (p *Proxy) Resets() int64 { return p.resets.Load() }

// BlackHole(true) makes the proxy drop every byte in both directions and
// leave new connections unanswered (accepted, never relayed): a partition
// where packets vanish, with no RST or FIN to tell either side. The client
// sees its requests time out. BlackHole(false) lifts it: connections that
// lost bytes, or were accepted during it, are reset (their streams are
// broken), and new connections are relayed as usual.
func (p *Proxy) BlackHole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hole = on
	if on {
		return
	}
	for c := range p.dropped {
		noLinger(c)
		if peer := p.conns[c]; peer != nil {
			noLinger(peer)
		}
	}
	for c := range p.dropped {
		c.Close()
		if peer := p.conns[c]; peer != nil {
			peer.Close()
		}
	}
	clear(p.dropped)
	p.cond.Broadcast()
}

// abort closes c with an RST rather than a FIN where it can.
func abort(c net.Conn) {
	noLinger(c)
	c.Close()
}

// noLinger makes closing c send an RST.
func noLinger(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

func (p *Proxy) set(stalled bool) {
	p.mu.Lock()
	p.stalled = stalled
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close stops accepting, closes every relayed connection and waits for the
// relays to end.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.hole {
			// Unanswered: read and drop until the hole is lifted.
			p.conns[in] = nil
			p.dropped[in] = true
			p.mu.Unlock()
			p.wg.Add(1)
			go p.sink(in)
			continue
		}
		p.mu.Unlock()
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
		p.conns[in], p.conns[out] = out, in
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out, false)
		go p.pipe(out, in, true)
	}
}

// pipe copies src to dst, holding data while stalled; replies (server to
// client) may be lost.
func (p *Proxy) pipe(src, dst net.Conn, reply bool) {
	defer p.wg.Done()
	defer p.forget(src, dst)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if p.drop(src) {
				continue
			}
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if reply && p.takeLoss() {
				return // forget closes both: the client sees EOF
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// sink reads and drops what a connection accepted during a black hole sends,
// until it is closed.
func (p *Proxy) sink(c net.Conn) {
	defer p.wg.Done()
	defer p.forget(c, c)
	buf := make([]byte, 4<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// drop reports whether the proxy is a black hole, marking src's connection
// as broken if so.
func (p *Proxy) drop(src net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole {
		p.dropped[src] = true
	}
	return p.hole
}

// wait blocks while the proxy is stalled; false if it closed meanwhile.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}

func (p *Proxy) takeLoss() bool {
	for {
		n := p.lose.Load()
		if n <= 0 {
			return false
		}
		if p.lose.CompareAndSwap(n, n-1) {
			p.lost.Add(1)
			return true
		}
	}
}

func (p *Proxy) forget(a, b net.Conn) {
	a.Close()
	b.Close()
	p.mu.Lock()
	delete(p.conns, a)
	delete(p.conns, b)
	delete(p.dropped, a)
	delete(p.dropped, b)
	p.mu.Unlock()
}
