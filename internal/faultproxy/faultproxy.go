// Package faultproxy is a TCP proxy for tests that puts network faults
// between a client and a real server: a lost reply (the server carried out
// the command, its answer never arrives and the connection closes) and a
// stall (every byte held in both directions, no FIN, no RST, then delivered).
// These are the faults a client library's retries and a store's idempotence
// must survive: a resent write that already applied, a write that lands after
// its caller gave up.
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

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	closed  bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// New listens on a free loopback port and relays to target (host:port).
// Close stops it.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
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
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
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
	p.mu.Unlock()
}
