package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// LoadConfig shapes the simulated users.
type LoadConfig struct {
	Users int           // concurrent users, each one request at a time
	Think time.Duration // mean pause between a user's requests
	Keys  int           // keys per user
	// Direct are the nodes' own base URLs. A replay of an ended token goes
	// to one of them at random, past the load balancer, so that it also
	// reaches nodes that cached the session and must have dropped it.
	Direct []string
}

// Load is a set of simulated users sending requests to one base URL and
// checking every answer against what they were acknowledged before.
type Load struct {
	base   string
	cfg    LoadConfig
	ledger *Ledger
	client *http.Client
	users  []*user

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartLoad starts cfg.Users users against base; Stop ends them.
func StartLoad(base string, cfg LoadConfig, ledger *Ledger, seed uint64) *Load {
	tr := &http.Transport{MaxIdleConnsPerHost: cfg.Users + 4, IdleConnTimeout: 30 * time.Second}
	l := &Load{
		base:   base,
		cfg:    cfg,
		ledger: ledger,
		client: &http.Client{Transport: tr, Timeout: 15 * time.Second},
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for i := range cfg.Users {
		u := &user{
			l:     l,
			name:  fmt.Sprintf("u%d", i),
			rng:   rand.New(rand.NewPCG(seed, uint64(i))),
			acked: map[string]ack{},
			maybe: map[string][]ack{},
		}
		l.users = append(l.users, u)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				u.step()
				pause := time.Duration(u.rng.Int64N(int64(2*cfg.Think) + 1))
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		}()
	}
	return l
}

// Stop ends the users and waits for their last requests.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// Verify reads every logged-in user's whole session once (after Stop, with
// the system healed) and checks every acknowledged write.
func (l *Load) Verify() {
	for _, u := range l.users {
		if u.token != "" && u.loggedIn {
			u.verifyAll()
		}
	}
	l.client.CloseIdleConnections()
}

// ack is a write and when it was sent.
type ack struct {
	value string
	at    time.Time
}

// deadToken is a token that a logout or an explicit rotation ended.
type deadToken struct {
	token string
	at    time.Time
	why   string
}

// user is one simulated browser: one request at a time, its own keys.
type user struct {
	l    *Load
	name string
	rng  *rand.Rand

	token string
	// issued is when the request that handed out the current token was
	// sent: the store may have made it durable any time after. Likewise an
	// ack's time is when its write was sent. A crash after that time may
	// have lost it; one before it cannot have.
	issued   time.Time
	loggedIn bool
	// unsure is set after a rotation or login whose answer was lost: the
	// token held may have been ended by it.
	unsure bool
	seq    int
	acked  map[string]ack   // key → last acknowledged write
	maybe  map[string][]ack // key → writes with no answer since
	dead   []deadToken
}

// result is one answer.
type result struct {
	ok     bool // 2xx
	reply  Reply
	cookie *http.Cookie // the session cookie the answer set, if any
	start  time.Time
}

// do sends one request with token as the session cookie ("" for none) and
// records it in the ledger.
func (u *user) do(method, path string, form url.Values, token string) result {
	r := u.send(u.l.base, method, path, form, token)
	u.l.ledger.response(r.start, time.Now(), r.ok)
	return r
}

// send is do to any base URL, without recording the answer.
func (u *user) send(base, method, path string, form url.Values, token string) result {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		panic(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: token})
	}
	r := result{start: time.Now()}
	res, err := u.l.client.Do(req)
	if err == nil {
		b, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil && res.StatusCode/100 == 2 && json.Unmarshal(b, &r.reply) == nil {
			r.ok = true
			for _, c := range res.Cookies() {
				if c.Name == CookieName {
					r.cookie = c
				}
			}
		}
	}
	return r
}

// keep takes a session cookie the answer set (a periodic rotation).
func (u *user) keep(r result) {
	if r.cookie != nil && r.cookie.Value != "" && r.cookie.MaxAge >= 0 && r.cookie.Value != u.token {
		u.token, u.issued = r.cookie.Value, r.start
	}
}

func (u *user) step() {
	if !u.loggedIn {
		u.login()
		return
	}
	switch n := u.rng.IntN(100); {
	case n < 45:
		u.read()
	case n < 80:
		u.write()
	case n < 85:
		u.rotate()
	case n < 88:
		u.logout()
	case n < 93 && len(u.dead) > 0:
		u.probe()
	default:
		u.read()
	}
}

func (u *user) key() string { return fmt.Sprintf("%s.k%d", u.name, u.rng.IntN(u.l.cfg.Keys)) }

// login starts a fresh session: no cookie, so no earlier data comes along.
func (u *user) login() {
	r := u.do(http.MethodPost, "/login", url.Values{"user": {u.name}}, "")
	if !r.ok || r.cookie == nil || r.reply.User != u.name {
		return // a session nobody holds a token of, at worst
	}
	u.token, u.issued, u.loggedIn, u.unsure = r.cookie.Value, r.start, true, false
	clear(u.acked)
	clear(u.maybe)
}

// mine checks whose session answered. It returns false if the answer is not
// from the user's live session (and accounts for it).
func (u *user) mine(r result, op string) bool {
	switch r.reply.User {
	case u.name:
		u.unsure = false
		u.keep(r)
		return true
	case "":
		u.noSession(r, op)
	default:
		u.l.ledger.add(func(c *Counts) { c.WrongReads++ }, "%s: %s got the session of %q", op, u.name, r.reply.User)
		u.loggedIn = false
	}
	return false
}

// noSession accounts for an answer "no session" to a user who held one.
func (u *user) noSession(r result, op string) {
	lg := u.l.ledger
	switch {
	case lg.excused(u.issued):
		lg.add(func(c *Counts) { c.SessionsLost++ }, "")
	case u.unsure:
		lg.add(func(c *Counts) { c.Ambiguous++ }, "")
	default:
		lg.add(func(c *Counts) { c.Silent++ }, "%s: %s logged out (token issued %s ago, answered by %s)",
			op, u.name, r.start.Sub(u.issued).Round(time.Millisecond), r.reply.Node)
	}
	u.loggedIn, u.token = false, ""
}

func (u *user) read() {
	k := u.key()
	r := u.do(http.MethodGet, "/get?k="+url.QueryEscape(k), nil, u.token)
	if !r.ok || !u.mine(r, "read") {
		return
	}
	u.check(k, r.reply.Found, r.reply.Value, "read")
}

// check compares a value read back with the ledger: it must be the last
// acknowledged write of the key, or a later write whose answer was lost;
// nothing found is right only if nothing was acknowledged.
func (u *user) check(k string, found bool, v, op string) {
	lg := u.l.ledger
	if found && !strings.HasPrefix(v, u.name+"-") {
		lg.add(func(c *Counts) { c.WrongReads++ }, "%s %s: %s read %q", op, k, u.name, v)
		return
	}
	want, had := u.acked[k]
	if found {
		if had && v == want.value {
			return
		}
		for _, m := range u.maybe[k] {
			if v == m.value {
				u.acked[k] = m // the write with no answer had applied
				return
			}
		}
	} else if !had {
		return
	}
	if !had {
		lg.add(func(c *Counts) { c.WrongReads++ }, "%s %s: %s read %q, never acknowledged", op, k, u.name, v)
		u.acked[k] = ack{v, time.Now()}
		return
	}
	// An acknowledged write is missing, or an older value came back.
	if lg.excused(want.at) {
		lg.add(func(c *Counts) { c.LostExcused++ }, "")
	} else {
		lg.add(func(c *Counts) { c.LostWrites++ }, "%s %s: %s read %q (found %v), acknowledged %q %s before",
			op, k, u.name, v, found, want.value, time.Since(want.at).Round(time.Millisecond))
	}
	if found {
		u.acked[k] = ack{v, want.at}
	} else {
		delete(u.acked, k)
	}
}

func (u *user) write() {
	k := u.key()
	u.seq++
	v := fmt.Sprintf("%s-%d", u.name, u.seq)
	sent := time.Now()
	r := u.do(http.MethodPost, "/set", url.Values{"k": {k}, "v": {v}}, u.token)
	if !r.ok {
		u.maybe[k] = append(u.maybe[k], ack{v, sent})
		return
	}
	if !u.mine(r, "write") {
		return
	}
	u.acked[k] = ack{v, sent}
	delete(u.maybe, k)
	u.l.ledger.add(func(c *Counts) { c.AckedWrites++ }, "")
}

func (u *user) rotate() {
	old := u.token
	r := u.do(http.MethodPost, "/rotate", url.Values{}, u.token)
	if !r.ok {
		u.unsure = true
		return
	}
	if !u.mine(r, "rotate") {
		return
	}
	if u.token != old {
		u.dead = append(u.dead, deadToken{old, time.Now(), "rotation"})
	}
}

// logout ends the session. Without an answer the user keeps the token, as
// a browser keeps its cookie: the session may or may not have ended.
func (u *user) logout() {
	old := u.token
	r := u.do(http.MethodPost, "/logout", url.Values{}, u.token)
	if !r.ok {
		u.unsure = true
		return
	}
	u.loggedIn, u.token = false, ""
	u.dead = append(u.dead, deadToken{old, time.Now(), "logout"})
}

// probe sends a read with a token that a logout or rotation ended: past the
// stale bound it must find no session, on whichever node.
func (u *user) probe() {
	i := u.rng.IntN(len(u.dead))
	d := u.dead[i]
	u.dead = append(u.dead[:i], u.dead[i+1:]...)
	var r result
	if direct := u.l.cfg.Direct; len(direct) > 0 {
		// Past NGINX, to any node: a node that is down just does not answer.
		r = u.send(direct[u.rng.IntN(len(direct))], http.MethodGet, "/get?k=x", nil, d.token)
	} else {
		r = u.do(http.MethodGet, "/get?k=x", nil, d.token)
	}
	lg := u.l.ledger
	lg.add(func(c *Counts) { c.DeadProbes++ }, "")
	if !r.ok || r.reply.User == "" {
		return
	}
	if age := r.start.Sub(d.at); age <= lg.StaleBound {
		lg.add(func(c *Counts) { c.StaleInBound++ }, "")
	} else {
		lg.add(func(c *Counts) { c.WrongReads++ }, "a token ended by %s %s before served %q's session on %s",
			d.why, age.Round(time.Millisecond), r.reply.User, r.reply.Node)
	}
}

// verifyAll reads the whole session and checks every key.
func (u *user) verifyAll() {
	var r result
	for range 20 { // the system is healed, but a node may still be coming back
		r = u.do(http.MethodGet, "/all", nil, u.token)
		if r.ok {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !r.ok || !u.mine(r, "verify") {
		return
	}
	keys := map[string]bool{}
	for k := range u.acked {
		keys[k] = true
	}
	for k := range u.maybe {
		keys[k] = true
	}
	for k := range r.reply.Values {
		keys[k] = true
	}
	for k := range keys {
		v, found := r.reply.Values[k]
		u.check(k, found, v, "verify")
	}
}
