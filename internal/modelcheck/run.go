package modelcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-go/tether/session"
)

// cookieName is the Managers' cookie name: the library's default.
const cookieName = session.DefaultCookieName

// BackendError is a Backend that could not build its nodes (a server down,
// a fault proxy that cut the setup): the run did not start.
type BackendError struct{ Err error }

func (e *BackendError) Error() string { return "modelcheck: backend: " + e.Err.Error() }
func (e *BackendError) Unwrap() error { return e.Err }

// node is one application replica of a run.
type node struct {
	m *session.Manager
	h http.Handler
}

// client is a browser: one cookie jar, one request at a time.
type client struct {
	tok   string
	label Label
}

type runner struct {
	cfg     Config
	rng     *rand.Rand
	nodes   []node
	clients []client
	seq     atomic.Int64
	hist    History
}

// Run runs one seeded history against backend and returns it. The seed fixes
// every choice the checker makes (which client does what, on which node,
// with which user); the interleaving of each round's concurrent requests is
// the machine's, so a seed finds a race with some probability, not always.
//
// Each round, every client picks one operation; plants and steals happen
// first, then all requests of the round start together and the round ends
// when the last returns. The clock stands still within a round.
func Run(cfg Config, backend Backend) (*History, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	clock := newClock(cfg.Tick)
	opts := append(cfg.sessionOptions(clock),
		session.WithLogger(slog.New(slog.DiscardHandler)),
		session.WithObserver(creations{}))
	ms, closeAll, err := backend(clock.Now, opts...)
	if err != nil {
		return nil, &BackendError{Err: err}
	}
	defer closeAll()
	if len(ms) == 0 {
		return nil, errors.New("modelcheck: backend returned no node")
	}
	r := &runner{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7e7e7)),
		clients: make([]client, cfg.Clients),
	}
	for i := range r.clients {
		r.clients[i].label = noLabel
	}
	for _, m := range ms {
		r.nodes = append(r.nodes, node{m: m, h: handler(m)})
	}
	for range cfg.Rounds {
		clock.advance()
		r.round()
	}
	return &r.hist, nil
}

func (r *runner) pick() Kind {
	total := 0
	for _, w := range r.cfg.Mix {
		total += w
	}
	n := r.rng.IntN(total)
	for k, w := range r.cfg.Mix {
		if n < w {
			return Kind(k)
		}
		n -= w
	}
	return Read
}

func (r *runner) newOp(c int, k Kind) *Op {
	op := &Op{Index: len(r.hist.Ops), Client: c, Kind: k, Node: r.rng.IntN(len(r.nodes)), Other: -1,
		Before: noLabel, After: noLabel, WriteLabel: noLabel}
	r.hist.Ops = append(r.hist.Ops, op)
	return op
}

func (r *runner) user() string { return fmt.Sprintf("u%d", r.rng.IntN(r.cfg.Users)) }

// round schedules one operation per client and runs them.
func (r *runner) round() {
	var reqs []*Op
	for c := range r.clients {
		k := r.pick()
		other := r.rng.IntN(len(r.clients))
		if other == c {
			other = (c + 1) % len(r.clients)
		}
		switch {
		case k == Plant && r.clients[c].tok == "":
			k = Write // an attacker first needs a session to plant
		case k == Steal && r.clients[other].tok == "":
			k = Read
		}
		op := r.newOp(c, k)
		switch k {
		case Plant, Steal:
			op.Other = other
			r.jarMove(op)
		case Write, ReadWrite:
			op.Key, op.Value = fmt.Sprintf("c%d", c), fmt.Sprintf("v%d", op.Index)
			reqs = append(reqs, op)
		case Login:
			op.User, op.Key, op.Value = r.user(), loginKey, fmt.Sprintf("m%d", op.Index)
			reqs = append(reqs, op)
		case DestroySession, DestroyUser, UserSessions:
			op.User = r.user()
			reqs = append(reqs, op)
		case Logout:
			op.Look = r.rng.IntN(2) == 0
			reqs = append(reqs, op)
		default:
			reqs = append(reqs, op)
		}
	}
	picks := make([]int, len(reqs)) // the destroy-session choices, made here to keep the seed's choices
	for i := range picks {
		picks[i] = r.rng.IntN(1 << 20)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, op := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r.exec(op, picks[i])
		}()
	}
	close(start)
	wg.Wait()
}

// jarMove performs a plant (the client's cookie into the other's jar) or a
// steal (the other's cookie into the client's jar). The label goes with the
// token: both jars now hold one session.
func (r *runner) jarMove(op *Op) {
	from, to := &r.clients[op.Client], &r.clients[op.Other]
	if op.Kind == Steal {
		from, to = to, from
	}
	op.Start = r.seq.Add(1)
	op.WallStart = time.Now()
	op.Sent, op.Before = from.tok, from.label
	to.tok, to.label = from.tok, from.label
	op.After, op.Status = from.label, 200
	op.End = r.seq.Add(1)
	op.WallEnd = time.Now()
}

func (r *runner) exec(op *Op, pick int) {
	switch op.Kind {
	case DestroySession, DestroyUser, UserSessions:
		r.admin(op, pick)
	default:
		r.request(op)
	}
}

func (r *runner) request(op *Op) {
	c := &r.clients[op.Client]
	op.Sent, op.Before, op.After = c.tok, c.label, c.label
	q := url.Values{}
	path := "/" + op.Kind.String()
	switch op.Kind {
	case Write, ReadWrite:
		q.Set("k", op.Key)
		q.Set("v", op.Value)
	case Login:
		q.Set("u", op.User)
		q.Set("v", op.Value)
	case Logout:
		if op.Look {
			q.Set("look", "1")
		}
	}
	var created atomic.Bool
	req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
	req = req.WithContext(withCreated(req.Context(), &created))
	if c.tok != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: c.tok})
	}
	rec := httptest.NewRecorder()
	op.WallStart = time.Now()
	op.Start = r.seq.Add(1)
	r.nodes[op.Node].h.ServeHTTP(rec, req)
	op.End = r.seq.Add(1)
	op.WallEnd = time.Now()
	op.Status = rec.Code

	if op.Status == 200 && (op.Kind == Read || op.Kind == ReadWrite || op.Kind == Login || op.Look) {
		var v view
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			op.Err = "bad body: " + err.Error()
		} else {
			op.Found, op.Values = v.Found, v.Values
		}
	}
	// The data this request wrote went to a new session if the Manager
	// created one (its cookie was empty or dead), else to the jar's. A
	// request that failed may have created one before failing: the label
	// is then one no jar holds, which is right either way.
	base := op.Before
	if created.Load() || op.Sent == "" {
		base = Label{Origin: op.Index}
	}
	switch op.Kind {
	case Write, ReadWrite:
		op.WriteLabel = base
	case Login:
		op.WriteLabel = base.with(op.Index)
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.Name != cookieName {
			continue
		}
		if ck.MaxAge < 0 || ck.Value == "" {
			op.Cleared, op.Got = true, ""
		} else if ck.Value != op.Sent {
			op.Cleared, op.Got = false, ck.Value
		}
	}
	switch {
	case op.Got != "":
		// A request handed a new cookie without creating a session was
		// rotated or forwarded: same session, same label.
		c.tok = op.Got
		switch {
		case op.WriteLabel.Origin >= 0:
			c.label = op.WriteLabel
		case created.Load():
			c.label = Label{Origin: op.Index}
		}
	case op.Cleared:
		c.tok, c.label = "", noLabel
	}
	op.After = c.label
}

func (r *runner) admin(op *Op, pick int) {
	m := r.nodes[op.Node].m
	ctx, cancel := context.WithTimeout(context.Background(), 4*r.cfg.StoreTimeout)
	defer cancel()
	op.WallStart = time.Now()
	op.Start = r.seq.Add(1)
	var err error
	switch op.Kind {
	case UserSessions, DestroySession:
		var infos []session.Info
		infos, err = m.UserSessions(ctx, op.User)
		for _, in := range infos {
			op.IDs = append(op.IDs, in.ID)
		}
		if err == nil && op.Kind == DestroySession && len(infos) > 0 {
			op.Target = infos[pick%len(infos)].ID
			err = m.DestroySession(ctx, op.User, op.Target)
		}
	case DestroyUser:
		op.Count, err = m.DestroyUser(ctx, op.User)
	}
	op.End = r.seq.Add(1)
	op.WallEnd = time.Now()
	switch {
	case err == nil:
		op.Status = 200
	case errors.Is(err, session.ErrUnknownSession):
		op.Status = 404
	default:
		op.Status = 500
		op.Err = err.Error()
	}
}
