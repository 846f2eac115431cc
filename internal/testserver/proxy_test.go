package testserver

import (
	"bufio"
	"fmt"
	"net"
	"testing"
	"time"
)

// Through a frozen proxy nothing passes, and what was held arrives on Thaw; a
// lost reply reaches the server, and the client sees its connection close
// instead of the answer.
func TestProxy(t *testing.T) {
	t.Parallel()
	s := Redis(t)
	p := NewProxy(t, s.Addr())

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	send := func(args ...string) {
		t.Helper()
		if _, err := c.Write([]byte(resp(args...))); err != nil {
			t.Fatal(err)
		}
	}

	p.Freeze()
	send("SET", "k", "frozen")
	eventuallyTrue(t, func() bool { return p.Held() == 1 })
	if v, err := redisDo(s.Addr(), "GET", "k"); err != nil || v != nil {
		t.Fatalf("GET k while frozen: %v, %v; want nothing: the SET was held", v, err)
	}
	p.Thaw()
	if reply, err := readRESP(r); err != nil || reply != "OK" {
		t.Fatalf("SET after the thaw: %v, %v", reply, err)
	}

	p.LoseReplyTo("lost-marker")
	send("SET", "k", "lost-marker")
	if reply, err := readRESP(r); err == nil {
		t.Fatalf("read %v, want the connection closed", reply)
	}
	if p.Lost() != 1 {
		t.Errorf("Lost() = %d, want 1", p.Lost())
	}
	mustRedis(t, s.Addr(), "lost-marker", "GET", "k")
}

func resp(args ...string) string {
	out := "*" + itoa(len(args)) + "\r\n"
	for _, a := range args {
		out += "$" + itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	return out
}

func itoa(n int) string { return fmt.Sprint(n) }

func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
	}
}
