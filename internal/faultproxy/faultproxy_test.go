package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-go/tether/internal/faultproxy"
)

// echo is a line server that records every line it received before
// answering it: it tells whether a command whose reply was lost reached it.
type echo struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []string
	wg   sync.WaitGroup
	seen chan string
}

func newEcho(t *testing.T) *echo {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{ln: ln, seen: make(chan string, 16)}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					e.seen <- line
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); e.wg.Wait() })
	return e
}

func newProxy(t *testing.T, target string) *faultproxy.Proxy {
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestRelays(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	io.WriteString(c, "hello\n")
	if line, err := r.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// A lost reply: the server received the command, the client gets EOF and
// nothing else, and the next reply flows again on a new connection.
func TestLoseReply(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	p.LoseReply()
	io.WriteString(c, "set\n")
	if got := <-e.seen; got != "set\n" {
		t.Fatalf("server got %q", got)
	}
	if line, err := r.ReadString('\n'); !errors.Is(err, io.EOF) || line != "" {
		t.Fatalf("client read %q, %v; want EOF and no reply", line, err)
	}
	if p.Lost() != 1 {
		t.Errorf("Lost = %d, want 1", p.Lost())
	}
	c2, r2 := dial(t, p.Addr())
	io.WriteString(c2, "again\n")
	if line, err := r2.ReadString('\n'); err != nil || line != "again\n" {
		t.Fatalf("after the loss: read %q, %v", line, err)
	}
}

// A stall holds the bytes without closing anything; thawing delivers them.
func TestFreezeHoldsAndThawDelivers(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	p.Freeze()
	io.WriteString(c, "late\n")
	select {
	case got := <-e.seen:
		t.Fatalf("server got %q while the link was frozen", got)
	case <-time.After(50 * time.Millisecond):
	}
	p.Thaw()
	if line, err := r.ReadString('\n'); err != nil || line != "late\n" {
		t.Fatalf("after thaw: read %q, %v", line, err)
	}
	if p.Stalls() != 1 {
		t.Errorf("Stalls = %d, want 1", p.Stalls())
	}
}

// Close ends relayed connections: the client sees them close.
func TestCloseEndsConnections(t *testing.T) {
	e := newEcho(t)
	p, err := faultproxy.New(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, p.Addr())
	io.WriteString(c, "x\n")
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection still open after Close")
		}
		var se *os.SyscallError
		if !errors.As(err, &se) {
			t.Fatalf("read after Close: %v", err)
		}
	}
}

// Latency delays each direction: an echo takes at least twice the delay, and
// removing it makes the link fast again.
func TestSetLatency(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	const d = 250 * time.Millisecond
	p.SetLatency(d)
	start := time.Now()
	io.WriteString(c, "slow\n")
	if line, err := r.ReadString('\n'); err != nil || line != "slow\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	<-e.seen
	if took := time.Since(start); took < 2*d {
		t.Fatalf("echo took %v with %v latency each way, want at least %v", took, d, 2*d)
	}
	p.SetLatency(0)
	start = time.Now()
	io.WriteString(c, "fast\n")
	if line, err := r.ReadString('\n'); err != nil || line != "fast\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	<-e.seen
	// With the latency it would take at least 2d; a loaded machine may take
	// a while, but not that long.
	if took := time.Since(start); took >= 2*d {
		t.Fatalf("echo took %v after the latency was removed", took)
	}
}

// Reset breaks every open connection with an RST; new ones work.
func TestReset(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	io.WriteString(c, "one\n")
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	<-e.seen
	if n := p.Reset(); n != 1 {
		t.Fatalf("Reset reset %d connections, want 1", n)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Reset: %v, want ECONNRESET", err)
	}
	c2, r2 := dial(t, p.Addr())
	io.WriteString(c2, "two\n")
	if line, err := r2.ReadString('\n'); err != nil || line != "two\n" {
		t.Fatalf("after Reset: read %q, %v", line, err)
	}
	if p.Resets() != 1 {
		t.Errorf("Resets = %d, want 1", p.Resets())
	}
}

// A black hole answers nothing, on open and new connections, and delivers
// nothing to the server; lifting it resets the connections it broke, and new
// ones work.
func TestBlackHole(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c, r := dial(t, p.Addr())
	p.BlackHole(true)
	io.WriteString(c, "lost\n")
	fresh, freshR := dial(t, p.Addr())
	io.WriteString(fresh, "lost too\n")
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if line, err := r.ReadString('\n'); !isTimeout(err) {
		t.Fatalf("open connection in the black hole: read %q, %v; want a timeout", line, err)
	}
	fresh.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if line, err := freshR.ReadString('\n'); !isTimeout(err) {
		t.Fatalf("new connection in the black hole: read %q, %v; want a timeout", line, err)
	}
	select {
	case got := <-e.seen:
		t.Fatalf("server got %q through the black hole", got)
	default:
	}

	p.BlackHole(false)
	for _, conn := range []struct {
		c net.Conn
		r *bufio.Reader
	}{{c, r}, {fresh, freshR}} {
		conn.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.r.ReadString('\n'); err == nil || isTimeout(err) {
			t.Fatalf("a connection the black hole broke is still open after it was lifted: %v", err)
		}
	}
	c2, r2 := dial(t, p.Addr())
	io.WriteString(c2, "back\n")
	if line, err := r2.ReadString('\n'); err != nil || line != "back\n" {
		t.Fatalf("after the black hole: read %q, %v", line, err)
	}
	if got := <-e.seen; got != "back\n" {
		t.Fatalf("server got %q, want only the line sent after the black hole", got)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
