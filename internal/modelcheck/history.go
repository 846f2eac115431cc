package modelcheck

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is what an operation does.
type Kind int

// The operations a client runs. Read, Write, ReadWrite, Login and Logout are
// HTTP requests through the middleware; Plant and Steal move a cookie between
// two jars (no request); DestroySession, DestroyUser and UserSessions call the
// Manager directly, as an admin page would.
const (
	Read Kind = iota
	Write
	ReadWrite
	Login
	Logout
	Plant
	Steal
	DestroySession
	DestroyUser
	UserSessions
	numKinds
)

var kindNames = [numKinds]string{"read", "write", "rw", "login", "logout", "plant", "steal", "destroy-session", "destroy-user", "user-sessions"}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Label names the session a jar's cookie belongs to, as the model sees it:
// the origin is the operation that created the session (a jar that got a
// fresh session), Logins the login operations the session went through since,
// in order. A label travels with the cookie: a plant or a steal copies it with
// the token. Two jars with equal labels hold the same session; a label whose
// Logins extend another's is the same session after more logins.
type Label struct {
	Origin int   // index of the operation that created the session
	Logins []int // indexes of the logins, oldest first
}

// descends reports whether data written under x may be read under y: same
// session, and every login x went through, y went through too.
func (x Label) descends(y Label) bool {
	return x.Origin == y.Origin && len(x.Logins) <= len(y.Logins) && slices.Equal(x.Logins, y.Logins[:len(x.Logins)])
}

func (x Label) equal(y Label) bool {
	return x.Origin == y.Origin && slices.Equal(x.Logins, y.Logins)
}

func (x Label) with(login int) Label {
	return Label{Origin: x.Origin, Logins: append(slices.Clone(x.Logins), login)}
}

func (x Label) String() string {
	if x.Origin < 0 {
		return "-"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "s%d", x.Origin)
	for _, l := range x.Logins {
		fmt.Fprintf(&b, "+L%d", l)
	}
	return b.String()
}

// noLabel is the label of an empty jar.
var noLabel = Label{Origin: -1}

// Op is one operation of the history. Start and End are positions in one
// global sequence (an atomic counter read when the operation began and when
// it returned), so "a ended before b started" is exact; the wall times serve
// the cross-node bound only.
type Op struct {
	Index  int
	Client int
	Node   int
	Kind   Kind
	User   string // login, destroy-session, destroy-user, user-sessions
	Key    string // write, rw: the client's own key; login: "login"
	Value  string // the unique value written (write, rw, login marker)
	Other  int    // plant: the victim's client; steal: the client robbed

	Sent    string // token in the request's cookie ("" for none)
	Got     string // new token the response set ("" if none)
	Cleared bool   // the response expired the cookie

	Before     Label // label of the jar when the operation started
	WriteLabel Label // label of the data this operation wrote, if any
	After      Label // label of the jar after the operation

	Look   bool              // logout: it loaded the session first (and reports Found)
	Found  bool              // read, rw, login, logout with Look: the request found a live session
	Values map[string]string // read, rw, login: the values it saw

	Target string   // destroy-session: the session ID it revoked
	IDs    []string // user-sessions, destroy-session: the IDs listed
	Count  int      // destroy-user: sessions reported destroyed

	Status int    // HTTP status, or 200/500 for direct calls
	Err    string // error of a direct call

	Start, End         int64
	WallStart, WallEnd time.Time
}

// ok reports whether the operation succeeded as the client saw it.
func (o *Op) ok() bool { return o.Status == 200 }

func short(tok string) string {
	if len(tok) > 6 {
		return tok[:6]
	}
	if tok == "" {
		return "-"
	}
	return tok
}

// String is one line of a printed history.
func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%-5d c%-2d n%d [%d,%d] %-15s", o.Index, o.Client, o.Node, o.Start, o.End, o.Kind)
	switch o.Kind {
	case Plant, Steal:
		fmt.Fprintf(&b, " other=c%d tok=%s label=%s", o.Other, short(o.Sent), o.After)
		return b.String()
	case DestroySession, DestroyUser, UserSessions:
		fmt.Fprintf(&b, " user=%s", o.User)
		if o.Target != "" {
			fmt.Fprintf(&b, " target=%s", short(o.Target))
		}
		if o.Kind == DestroyUser {
			fmt.Fprintf(&b, " n=%d", o.Count)
		}
		if len(o.IDs) > 0 {
			ids := make([]string, len(o.IDs))
			for i, id := range o.IDs {
				ids[i] = short(id)
			}
			fmt.Fprintf(&b, " ids=%v", ids)
		}
	default:
		fmt.Fprintf(&b, " sent=%s(%s)", short(o.Sent), o.Before)
		if o.Got != "" {
			fmt.Fprintf(&b, " got=%s(%s)", short(o.Got), o.After)
		}
		if o.Cleared {
			b.WriteString(" cleared")
		}
		if o.User != "" {
			fmt.Fprintf(&b, " user=%s", o.User)
		}
		if o.Key != "" {
			fmt.Fprintf(&b, " %s=%s", o.Key, o.Value)
		}
		if o.Kind == Logout && o.Look {
			fmt.Fprintf(&b, " found=%v", o.Found)
		}
		if o.Kind == Read || o.Kind == ReadWrite || o.Kind == Login {
			if o.Found {
				keys := make([]string, 0, len(o.Values))
				for k := range o.Values {
					keys = append(keys, k)
				}
				slices.Sort(keys)
				parts := make([]string, len(keys))
				for i, k := range keys {
					parts[i] = k + "=" + o.Values[k]
				}
				fmt.Fprintf(&b, " saw{%s}", strings.Join(parts, " "))
			} else {
				b.WriteString(" saw:none")
			}
		}
	}
	fmt.Fprintf(&b, " status=%d", o.Status)
	if o.Err != "" {
		fmt.Fprintf(&b, " err=%q", o.Err)
	}
	return b.String()
}

// History is the record of one run: every operation, in the order they were
// scheduled (Index order).
type History struct {
	Ops []*Op
}

// sessionID is the ID the library derives from a token (the hex SHA-256), so
// the checker can tell which tokens an admin operation's IDs stand for.
func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
