package modelcheck

import (
	"fmt"
	"time"
)

// The invariants a history must keep. Each Violation names one.
const (
	// InvFixation: a token issued before a login never reads data written
	// after it (the login's marker, or anything its session wrote since),
	// data written from outside the login's session after the login
	// completed never shows in it, and the token a login hands out is
	// handed to no other request.
	InvFixation = "fixation"
	// InvIsolation: a session never shows a value written to another one.
	InvIsolation = "isolation"
	// InvLostWrite: an acknowledged write (200, cookie not expired) is seen
	// by its client's later reads of the same session, unless something
	// ended the session.
	InvLostWrite = "lost-write"
	// InvVanished: a session its client was just handed (or just used)
	// is found by the client's next request, when nobody else touched the
	// session and no revocation of its user ran in between.
	InvVanished = "vanished"
	// InvRevocation: a request that starts after a logout (that found its
	// session live), DestroySession or DestroyUser completed does not find
	// the session it ended.
	InvRevocation = "revocation"
	// InvUserIndex: UserSessions after a completed DestroyUser lists
	// nothing, when no login of that user ran since the destroy began.
	InvUserIndex = "user-index"
)

// Violation is one broken invariant, with the operations that show it.
type Violation struct {
	Invariant string
	Msg       string
	Ops       []int // indexes into the history, the offending one first
}

func (v Violation) String() string { return v.Invariant + ": " + v.Msg }

// checker holds the indexes the invariants share.
type checker struct {
	h       *History
	bound   time.Duration
	writer  map[string]*Op   // unique value → the operation that wrote it
	issuer  map[string]*Op   // token → the first operation handed it
	byID    map[string]*Op   // session ID → the first operation handed its token
	sentBy  map[string][]*Op // token → the operations that sent it
	maxViol int
	out     []Violation
}

// Check checks every invariant on h and returns what broke, at most max
// violations (0: all). crossNode is the allowance between two nodes (see
// Config.CrossNodeBound).
func Check(h *History, crossNode time.Duration, max int) []Violation {
	c := &checker{h: h, bound: crossNode, maxViol: max,
		writer: map[string]*Op{}, issuer: map[string]*Op{}, byID: map[string]*Op{}, sentBy: map[string][]*Op{}}
	for _, op := range h.Ops {
		if op.Sent != "" {
			c.sentBy[op.Sent] = append(c.sentBy[op.Sent], op)
		}
		if op.Value != "" {
			c.writer[op.Value] = op
		}
		if op.Got != "" {
			if first, ok := c.issuer[op.Got]; !ok || op.Start < first.Start {
				c.issuer[op.Got] = op
				c.byID[sessionID(op.Got)] = op
			}
		}
	}
	c.loginTokens()
	c.fixation()
	c.lostWrites()
	c.vanished()
	c.revocations()
	c.userIndex()
	return c.out
}

func (c *checker) fail(inv string, ops []*Op, format string, args ...any) {
	if c.maxViol > 0 && len(c.out) >= c.maxViol {
		return
	}
	v := Violation{Invariant: inv, Msg: fmt.Sprintf(format, args...)}
	for _, op := range ops {
		v.Ops = append(v.Ops, op.Index)
	}
	c.out = append(c.out, v)
}

// sees reports whether op answered with the session's values.
func sees(op *Op) bool {
	return op.ok() && op.Found && (op.Kind == Read || op.Kind == ReadWrite || op.Kind == Login)
}

func (c *checker) fixation() {
	for _, r := range c.h.Ops {
		if !sees(r) {
			continue
		}
		for k, v := range r.Values {
			w := c.writer[v]
			if w == nil {
				c.fail(InvIsolation, []*Op{r}, "#%d read %s=%s, a value no operation wrote", r.Index, k, v)
				continue
			}
			x, y := w.WriteLabel, r.Before
			if x.Origin != y.Origin {
				c.fail(InvIsolation, []*Op{r, w}, "#%d (session %s) read %s=%s written by #%d to session %s",
					r.Index, y, k, v, w.Index, x)
				continue
			}
			if !x.descends(y) {
				c.fail(InvFixation, []*Op{r, w}, "#%d with a token of %s read %s=%s written by #%d under %s: data written after a login reached a token of before it",
					r.Index, y, k, v, w.Index, x)
				continue
			}
			for _, l := range y.Logins[len(x.Logins):] {
				if login := c.h.Ops[l]; w.Start > login.End {
					c.fail(InvFixation, []*Op{r, w, login}, "#%d (session %s) read %s=%s written by #%d with a pre-login token (%s) after login #%d completed",
						r.Index, y, k, v, w.Index, x, l)
				}
			}
		}
	}
}

// loginTokens checks that the token a login hands its client is handed to no
// other request: not by a forward from the pre-login token, not by a
// rotation the login joined.
func (c *checker) loginTokens() {
	handed := map[string][]*Op{}
	for _, o := range c.h.Ops {
		if o.Got != "" {
			handed[o.Got] = append(handed[o.Got], o)
		}
	}
	for _, l := range c.h.Ops {
		if l.Kind != Login || l.Got == "" {
			continue
		}
		for _, o := range handed[l.Got] {
			if o != l {
				c.fail(InvFixation, []*Op{o, l}, "#%d (%s, sent token %s of %s) was handed token %s that login #%d handed its client",
					o.Index, o.Kind, short(o.Sent), o.Before, short(l.Got), l.Index)
			}
		}
	}
}

// lastLogin returns the label's latest login, or nil.
func (c *checker) lastLogin(x Label) *Op {
	if len(x.Logins) == 0 {
		return nil
	}
	return c.h.Ops[x.Logins[len(x.Logins)-1]]
}

func overlaps(e *Op, from, to int64) bool { return e.Start < to && e.End > from }

// exempt reports whether b may still see what a changed on another node.
func (c *checker) exempt(a, b *Op) bool {
	return c.bound > 0 && a.Node != b.Node && b.WallStart.Sub(a.WallEnd) < c.bound
}

// staleToken reports whether r's node may still hold its token's record as
// it was before a request on another node rotated it away, within the
// bound: r then reads that old copy, however the session ended since.
func (c *checker) staleToken(r *Op) bool {
	if c.bound == 0 || r.Sent == "" {
		return false
	}
	for _, o := range c.sentBy[r.Sent] {
		if o.End < r.Start && o.Got != "" && c.exempt(o, r) {
			return true
		}
	}
	return false
}

// ends reports whether e may legitimately end the session labelled x, for
// client cl, while it ran.
func (c *checker) ends(e *Op, x Label, cl int) bool {
	switch e.Kind {
	case Logout:
		return e.Before.Origin == x.Origin
	case Login:
		return e.Client != cl && e.Before.Origin == x.Origin
	case DestroySession, DestroyUser:
		l := c.lastLogin(x)
		return l != nil && l.User == e.User
	}
	return false
}

func (c *checker) lostWrites() {
	last := map[int]*Op{} // client → its latest acknowledged write
	for _, r := range c.h.Ops {
		if w := last[r.Client]; w != nil && sees(r) && w.WriteLabel.descends(r.Before) && !c.exempt(w, r) && !c.staleToken(r) && !c.endedBetween(w, r) {
			v, ok := r.Values[w.Key]
			if seen := c.writer[v]; !ok || seen == nil || seen.Client != r.Client || seen.Index < w.Index {
				shown := "nothing"
				if ok {
					shown = v
				}
				c.fail(InvLostWrite, []*Op{r, w}, "#%d (session %s) saw %s=%s after #%d's acknowledged %s=%s",
					r.Index, r.Before, w.Key, shown, w.Index, w.Key, w.Value)
			}
		}
		// A write answered with an expired cookie was dropped with its
		// session (its token had died): the client was told so.
		if (r.Kind == Write || r.Kind == ReadWrite) && r.ok() && !r.Cleared {
			last[r.Client] = r
		}
	}
}

func (c *checker) endedBetween(w, r *Op) bool {
	// A login kills every other token of its session, and a write through
	// one of those (held by another client, or planted back into the
	// client's jar) is dropped: unless the write ended before that login
	// began, whatever it wrote may not carry over.
	for _, l := range r.Before.Logins[len(w.WriteLabel.Logins):] {
		if login := c.h.Ops[l]; login.Start < w.End {
			return true
		}
	}
	for _, e := range c.h.Ops {
		if overlaps(e, w.Start, r.End) && c.ends(e, r.Before, r.Client) {
			return true
		}
	}
	return false
}

func (c *checker) vanished() {
	prev := map[int]*Op{} // client → its previous operation
	for _, r := range c.h.Ops {
		p := prev[r.Client]
		if r.Kind != Plant {
			prev[r.Client] = r
		}
		if p == nil || !r.ok() || r.Found || r.Sent == "" || !(r.Kind == Read || r.Kind == ReadWrite || r.Kind == Login || r.Look) || r.Err != "" {
			continue
		}
		// p left the client with r's token, alive: it was handed it, or
		// sent it and found the session (a blind write cannot tell).
		alive := p.ok() && (p.Got == r.Sent || p.Sent == r.Sent && p.Got == "" && !p.Cleared && p.Found && p.Kind != Logout)
		if !alive || c.touchedBetween(p, r) {
			continue
		}
		c.fail(InvVanished, []*Op{r, p}, "#%d found no session with token %s (%s), which #%d left live, and nothing touched it since",
			r.Index, short(r.Sent), r.Before, p.Index)
	}
}

// touchedBetween reports whether anything but r's own client may have
// changed r's session between p's start and r's end: a request of another
// client on the same session, a plant or steal involving the client, or a
// revocation of the session's user.
func (c *checker) touchedBetween(p, r *Op) bool {
	user := ""
	if l := c.lastLogin(r.Before); l != nil {
		user = l.User
	}
	for _, e := range c.h.Ops {
		// On another node, a change that ended shortly before p may not
		// have reached p's node yet: p saw the session live, stale.
		if e == r || e == p || !overlaps(e, p.Start, r.End) && !(e.End < p.Start && c.exempt(e, p)) {
			continue
		}
		switch e.Kind {
		case Plant, Steal:
			if e.Client == r.Client || e.Other == r.Client {
				return true
			}
		case DestroySession, DestroyUser:
			if user != "" && e.User == user {
				return true
			}
		case UserSessions:
		default:
			if e.Client != r.Client && (e.Before.Origin == r.Before.Origin || e.After.Origin == r.Before.Origin) {
				return true
			}
		}
	}
	return false
}

// revocation is a completed logout, DestroySession or DestroyUser, and which
// labels it ended.
type revocation struct {
	op    *Op
	ended func(Label) bool
}

func (c *checker) revocationsOf() []revocation {
	var out []revocation
	for _, e := range c.h.Ops {
		if !e.ok() {
			continue
		}
		switch {
		case e.Kind == Logout && e.Look && e.Found:
			// Only a logout that found the session live: a holder whose
			// token had already died (its grace ran out after another
			// holder rotated) logs nobody out, by design.
			x := e.Before
			out = append(out, revocation{e, x.equal})
		case e.Kind == DestroySession && e.Target != "":
			if first := c.byID[e.Target]; first != nil {
				x := first.After
				out = append(out, revocation{e, x.equal})
			}
		case e.Kind == DestroyUser:
			out = append(out, revocation{e, func(x Label) bool {
				l := c.lastLogin(x)
				return l != nil && l.ok() && l.User == e.User && l.End < e.Start
			}})
		}
	}
	return out
}

func (c *checker) revocations() {
	for _, rv := range c.revocationsOf() {
		e := rv.op
		for _, r := range c.h.Ops {
			if !sees(r) || r.Start < e.End || !rv.ended(r.Before) || c.exempt(e, r) || c.staleToken(r) {
				continue
			}
			if first := c.issuer[r.Sent]; first == nil || first.Start > e.End {
				continue // a token handed out after the revocation: another session
			}
			c.fail(InvRevocation, []*Op{r, e}, "#%d found session %s (token %s) after %s #%d completed",
				r.Index, r.Before, short(r.Sent), e.Kind, e.Index)
		}
	}
}

func (c *checker) userIndex() {
	for _, q := range c.h.Ops {
		if q.Kind != UserSessions || !q.ok() {
			continue
		}
		// A rotation creates its new record (indexed under the user)
		// before it knows whether it wins; a loser deletes it again. Such
		// a record, never handed to any client, is nobody's session: only
		// IDs of tokens some response carried count.
		var live []string
		for _, id := range q.IDs {
			if c.byID[id] != nil {
				live = append(live, id)
			}
		}
		if len(live) == 0 {
			continue
		}
		for _, e := range c.h.Ops {
			if e.Kind != DestroyUser || !e.ok() || e.User != q.User || e.End > q.Start {
				continue
			}
			concurrent := false
			for _, l := range c.h.Ops {
				if l.Kind == Login && l.User == q.User && l.End > e.Start && l.Start < q.End {
					concurrent = true
					break
				}
			}
			if !concurrent {
				c.fail(InvUserIndex, []*Op{q, e}, "#%d listed %d sessions of %s handed to clients after destroy-user #%d completed, with no login of %s since",
					q.Index, len(live), q.User, e.Index, q.User)
				break
			}
		}
	}
}
