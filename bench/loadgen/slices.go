package loadgen

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// SlicesConfig is a run of several servers in short interleaved slices (see
// Slices).
type SlicesConfig struct {
	Targets []Target
	Conns   int           // keep-alive connections per target (default 16)
	Slice   time.Duration // each target's time under load per round (default 100ms)
	Rounds  int           // default 100
	Seed    uint64        // of the order within each round
	// Timeout bounds a slice's overrun: a request still unanswered
	// Timeout after its slice's end fails the run (default 1s), so that
	// a server that stalls, or a body that never ends, does not hang it.
	Timeout time.Duration
}

// Target is one server of a SlicesConfig.
type Target struct {
	Addr    string   // host:port
	Path    string   // e.g. /none
	Cookies []string // Cookie header values, used round robin (none: no header)
}

// SlicesResult is what Slices measured.
type SlicesResult struct {
	// Counts[r][t] is the number of requests target t completed within
	// its slice of round r.
	Counts [][]int64
	// Served[t] is every response target t sent, the requests that
	// finished after a slice's end included (for costs per request read
	// from the server's own counters around the whole run).
	Served []int64
	// Order[r] is the order in which the targets ran in round r.
	Order [][]int
}

// Slices puts each target under load for one slice per round, one target at
// a time, in an order shuffled anew each round; the ratio of two targets'
// counts in the same round compares them under the same state of the
// machine. It is the measurement for differences of a percent or two between
// servers on a shared machine, where a run of seconds per server drifts by
// more than that from one run to the next (two runs of the same server a
// quarter of a minute apart differ by up to 15 % here), and where a server
// that always ran next to the baseline, first or second, still inherited
// what the run before it left behind: a slice of 100 ms is short against the
// drift, and every target, the baseline too, has the same neighbours on
// average.
//
// Each target keeps its connections open for the whole run, so that no
// slice pays for connecting. Requests are written by hand (HTTP/1.1, GET,
// keep-alive), so the load generator's own cost per request stays small
// and the same for every target. Any response but 200 is an error: every
// target must answer every request the same way for the counts to compare.
func Slices(cfg SlicesConfig) (SlicesResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	if cfg.Slice <= 0 {
		cfg.Slice = 100 * time.Millisecond
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 100
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	ts := make([]*sliceTarget, len(cfg.Targets))
	defer func() {
		for _, t := range ts {
			if t != nil {
				t.close()
			}
		}
	}()
	for i, tg := range cfg.Targets {
		t, err := dialTarget(tg, cfg.Conns)
		if err != nil {
			return SlicesResult{}, err
		}
		ts[i] = t
	}
	res := SlicesResult{Counts: make([][]int64, cfg.Rounds), Served: make([]int64, len(ts)), Order: make([][]int, cfg.Rounds)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x511ce5))
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	for r := range cfg.Rounds {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		res.Counts[r] = make([]int64, len(ts))
		res.Order[r] = slices.Clone(order)
		for _, i := range order {
			counted, served, err := ts[i].run(cfg.Slice, cfg.Timeout)
			if err != nil {
				return SlicesResult{}, err
			}
			res.Counts[r][i] = counted
			res.Served[i] += served
		}
	}
	return res, nil
}

// sliceTarget is a target with its open connections.
type sliceTarget struct {
	Target
	conns []*sliceConn
	reqs  [][]byte // one request per cookie
}

type sliceConn struct {
	c    net.Conn
	br   *bufio.Reader
	next int // index into reqs
}

func dialTarget(tg Target, conns int) (*sliceTarget, error) {
	t := &sliceTarget{Target: tg}
	cookies := tg.Cookies
	if len(cookies) == 0 {
		cookies = []string{""}
	}
	for _, c := range cookies {
		h := ""
		if c != "" {
			h = "Cookie: " + c + "\r\n"
		}
		t.reqs = append(t.reqs, []byte("GET "+tg.Path+" HTTP/1.1\r\nHost: "+tg.Addr+"\r\nUser-Agent: tether-bench\r\n"+h+"\r\n"))
	}
	for i := range conns {
		c, err := net.Dial("tcp", tg.Addr)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("loadgen: %s: %w", tg.Addr, err)
		}
		// Connections start at different cookies, as in the other
		// generators, so that the sessions spread over the load.
		t.conns = append(t.conns, &sliceConn{c: c, br: bufio.NewReaderSize(c, 4096), next: i % len(t.reqs)})
	}
	return t, nil
}

func (t *sliceTarget) close() {
	for _, c := range t.conns {
		c.c.Close()
	}
}

// run loads t for d on all its connections and returns the requests
// completed within d and all it served, or the first failure (a request
// unanswered timeout after d is one).
func (t *sliceTarget) run(d, timeout time.Duration) (counted, served int64, err error) {
	deadline := time.Now().Add(d)
	for _, c := range t.conns {
		// Once per slice, not per request: a deadline is a timer
		// update in the runtime, and the same for every target.
		if err := c.c.SetDeadline(deadline.Add(timeout)); err != nil {
			return 0, 0, err
		}
	}
	var (
		mu    sync.Mutex
		first error
	)
	counts := make([][2]int64, len(t.conns))
	var wg sync.WaitGroup
	for k, c := range t.conns {
		wg.Go(func() {
			for {
				if err := c.roundTrip(t); err != nil {
					mu.Lock()
					first = cmp.Or(first, fmt.Errorf("loadgen: %s%s: %w", t.Addr, t.Path, err))
					mu.Unlock()
					return
				}
				counts[k][1]++
				if time.Now().After(deadline) {
					return
				}
				counts[k][0]++
			}
		})
	}
	wg.Wait()
	for _, n := range counts {
		counted += n[0]
		served += n[1]
	}
	return counted, served, first
}

// roundTrip sends c's next request and reads its response whole.
func (c *sliceConn) roundTrip(t *sliceTarget) error {
	req := t.reqs[c.next]
	c.next = (c.next + 1) % len(t.reqs)
	if _, err := c.c.Write(req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if resp.Close {
		return fmt.Errorf("the server closed the connection")
	}
	return nil
}
