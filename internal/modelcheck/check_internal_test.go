package modelcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-go/tether/session"
	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

// hist builds a synthetic history: each op gets its index, and Start/End
// from its position unless set (ops then run one after another).
func hist(ops ...*Op) *History {
	h := &History{}
	for i, op := range ops {
		op.Index = i
		if op.Start == 0 && op.End == 0 {
			op.Start, op.End = int64(2*i+1), int64(2*i+2)
		}
		if op.Status == 0 {
			op.Status = 200
		}
		h.Ops = append(h.Ops, op)
	}
	return h
}

func lbl(origin int, logins ...int) Label { return Label{Origin: origin, Logins: logins} }

func invariants(vs []Violation) string {
	var names []string
	for _, v := range vs {
		names = append(names, v.Invariant)
	}
	return strings.Join(names, ",")
}

// A plain, correct history breaks nothing: a session created, written,
// logged into, read by its client.
func cleanHistory() *History {
	return hist(
		&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
		&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m1", Sent: "t0", Got: "t1", Before: lbl(0), WriteLabel: lbl(0, 1), After: lbl(0, 1),
			Found: true, Values: map[string]string{"c0": "v0"}},
		&Op{Client: 0, Kind: Read, Sent: "t1", Before: lbl(0, 1), After: lbl(0, 1), Found: true, Values: map[string]string{"c0": "v0", loginKey: "m1"}},
	)
}

func TestCleanHistoryPasses(t *testing.T) {
	if vs := Check(cleanHistory(), 0, 0); len(vs) != 0 {
		t.Fatalf("violations on a clean history: %v", vs)
	}
}

// Each invariant catches the history that breaks it, and only that one.
func TestCheckCatches(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *History
		want string
	}{{
		// Defect 1's shape: the attacker's periodic rotation and the
		// victim's login both end on token t2.
		name: "login token handed to another request",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Plant, Other: 1, Sent: "t0", Before: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Read, Sent: "t0", Got: "t2", Before: lbl(0), After: lbl(0), Found: true, Values: map[string]string{"c0": "v0"}},
			&Op{Client: 1, Kind: Login, User: "u0", Key: loginKey, Value: "m3", Sent: "t0", Got: "t2", Before: lbl(0), WriteLabel: lbl(0, 3), After: lbl(0, 3),
				Found: true, Values: map[string]string{"c0": "v0"}},
		),
		want: InvFixation,
	}, {
		name: "pre-login token reads the login marker",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Login, User: "u0", Key: loginKey, Value: "m1", Sent: "t0", Got: "t1", Before: lbl(0), WriteLabel: lbl(0, 1), After: lbl(0, 1),
				Found: true, Values: map[string]string{"c0": "v0"}},
			&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0), After: lbl(0), Found: true, Values: map[string]string{"c0": "v0", loginKey: "m1"}},
		),
		want: InvFixation,
	}, {
		name: "pre-login token writes into the logged-in session",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Login, User: "u0", Key: loginKey, Value: "m1", Sent: "t0", Got: "t1", Before: lbl(0), WriteLabel: lbl(0, 1), After: lbl(0, 1),
				Found: true, Values: map[string]string{"c0": "v0"}},
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v2", Sent: "t0", Before: lbl(0), WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Read, Sent: "t1", Before: lbl(0, 1), After: lbl(0, 1), Found: true, Values: map[string]string{"c0": "v2", loginKey: "m1"}},
		),
		want: InvFixation,
	}, {
		name: "another session's value",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Write, Key: "c1", Value: "v1", Got: "t1", Before: noLabel, WriteLabel: lbl(1), After: lbl(1)},
			&Op{Client: 1, Kind: Read, Sent: "t1", Before: lbl(1), After: lbl(1), Found: true, Values: map[string]string{"c0": "v0", "c1": "v1"}},
		),
		want: InvIsolation,
	}, {
		name: "acknowledged write lost",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v1", Sent: "t0", Before: lbl(0), WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0), After: lbl(0), Found: true, Values: map[string]string{"c0": "v0"}},
		),
		want: InvLostWrite,
	}, {
		name: "session vanished with nobody touching it",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0), After: lbl(0), Found: false, Values: map[string]string{}},
		),
		want: InvVanished,
	}, {
		name: "read after a logout",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Plant, Other: 1, Sent: "t0", Before: lbl(0), After: lbl(0)},
			&Op{Client: 0, Kind: Logout, Look: true, Found: true, Sent: "t0", Cleared: true, Before: lbl(0), After: noLabel},
			&Op{Client: 1, Kind: Read, Sent: "t0", Before: lbl(0), After: lbl(0), Found: true, Values: map[string]string{"c0": "v0"}},
		),
		want: InvRevocation,
	}, {
		name: "read after DestroySession",
		h: hist(
			&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m0", Got: "t0", Before: noLabel, WriteLabel: lbl(0, 0), After: lbl(0, 0)},
			&Op{Client: 1, Kind: DestroySession, User: "u0", Target: sessionID("t0"), IDs: []string{sessionID("t0")}},
			&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0, 0), After: lbl(0, 0), Found: true, Values: map[string]string{loginKey: "m0"}},
		),
		want: InvRevocation,
	}, {
		name: "read after DestroyUser",
		h: hist(
			&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m0", Got: "t0", Before: noLabel, WriteLabel: lbl(0, 0), After: lbl(0, 0)},
			&Op{Client: 1, Kind: DestroyUser, User: "u0", Count: 1},
			&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0, 0), After: lbl(0, 0), Found: true, Values: map[string]string{loginKey: "m0"}},
		),
		want: InvRevocation,
	}, {
		name: "user index lists a session after DestroyUser",
		h: hist(
			&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m0", Got: "t0", Before: noLabel, WriteLabel: lbl(0, 0), After: lbl(0, 0)},
			&Op{Client: 1, Kind: DestroyUser, User: "u0", Count: 1},
			&Op{Client: 1, Kind: UserSessions, User: "u0", IDs: []string{sessionID("t0")}},
		),
		want: InvUserIndex,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(tc.h, 0, 0)
			if got := invariants(vs); got != tc.want {
				t.Fatalf("violations %q, want exactly %q: %v", got, tc.want, vs)
			}
			if r := (&Failure{Config: Config{Seed: 7}, History: tc.h, Violations: vs}).Report(); !strings.Contains(r, "seed=7") || !strings.Contains(r, "#") {
				t.Errorf("report lacks the seed or the history:\n%s", r)
			}
		})
	}
}

// What legitimately ends a session excuses what would otherwise look lost.
func TestCheckAllows(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    *History
	}{{
		name: "a read on another node within the bound after a logout",
		h: func() *History {
			h := hist(
				&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
				&Op{Client: 0, Kind: Plant, Other: 1, Sent: "t0", Before: lbl(0), After: lbl(0)},
				&Op{Client: 0, Kind: Logout, Look: true, Found: true, Sent: "t0", Cleared: true, Before: lbl(0), After: noLabel, Node: 0},
				&Op{Client: 1, Kind: Read, Sent: "t0", Before: lbl(0), After: lbl(0), Found: true, Values: map[string]string{"c0": "v0"}, Node: 1},
			)
			now := time.Now()
			h.Ops[2].WallEnd, h.Ops[3].WallStart = now, now.Add(time.Millisecond)
			return h
		}(),
	}, {
		name: "a read of a token another node rotated just before, after a revocation",
		h: func() *History {
			h := hist(
				&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m0", Got: "t0", Before: noLabel, WriteLabel: lbl(0, 0), After: lbl(0, 0), Node: 0},
				&Op{Client: 1, Kind: Steal, Other: 0, Sent: "t0", Before: lbl(0, 0), After: lbl(0, 0)},
				&Op{Client: 1, Kind: Read, Sent: "t0", Got: "t1", Before: lbl(0, 0), After: lbl(0, 0), Found: true, Values: map[string]string{loginKey: "m0"}, Node: 1},
				&Op{Client: 2, Kind: DestroySession, User: "u0", Target: sessionID("t1"), IDs: []string{sessionID("t1")}, Node: 0},
				&Op{Client: 0, Kind: Read, Sent: "t0", Before: lbl(0, 0), After: lbl(0, 0), Found: true, Values: map[string]string{loginKey: "m0"}, Node: 0},
			)
			now := time.Now()
			h.Ops[2].WallEnd, h.Ops[4].WallStart = now, now.Add(time.Millisecond)
			return h
		}(),
	}, {
		name: "a write through a token another holder's login killed",
		h: hist(
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v0", Got: "t0", Before: noLabel, WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Login, User: "u0", Key: loginKey, Value: "m1", Sent: "t0", Got: "t1", Before: lbl(0), WriteLabel: lbl(0, 1), After: lbl(0, 1),
				Found: true, Values: map[string]string{"c0": "v0"}},
			&Op{Client: 0, Kind: Write, Key: "c0", Value: "v2", Sent: "t0", Before: lbl(0), WriteLabel: lbl(0), After: lbl(0)},
			&Op{Client: 1, Kind: Plant, Other: 0, Sent: "t1", Before: lbl(0, 1), After: lbl(0, 1)},
			&Op{Client: 0, Kind: Read, Sent: "t1", Before: lbl(0, 1), After: lbl(0, 1), Found: true, Values: map[string]string{"c0": "v0", loginKey: "m1"}},
		),
	}, {
		name: "a listing of a rotation's record never handed out",
		h: hist(
			&Op{Client: 0, Kind: Login, User: "u0", Key: loginKey, Value: "m0", Got: "t0", Before: noLabel, WriteLabel: lbl(0, 0), After: lbl(0, 0)},
			&Op{Client: 1, Kind: DestroyUser, User: "u0", Count: 1},
			&Op{Client: 1, Kind: UserSessions, User: "u0", IDs: []string{sessionID("never-handed")}},
		),
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if vs := Check(tc.h, time.Second, 0); len(vs) != 0 {
				t.Fatalf("violations: %v", vs)
			}
		})
	}
}

// The checker maps the IDs UserSessions reports to tokens by hashing them as
// the library does: that must stay true, or revocations go unchecked.
func TestSessionIDIsTheLibrarys(t *testing.T) {
	m, err := session.New()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rec := httptest.NewRecorder()
	handler(m).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login?u=alice&v=m", nil))
	var tok string
	for _, c := range rec.Result().Cookies() {
		if c.Name == cookieName {
			tok = c.Value
		}
	}
	infos, err := m.UserSessions(t.Context(), "alice")
	if err != nil || len(infos) != 1 || tok == "" {
		t.Fatalf("UserSessions = %v, %v; cookie %q", infos, err, tok)
	}
	if got := sessionID(tok); got != infos[0].ID {
		t.Fatalf("sessionID(cookie) = %s, library says %s", got, infos[0].ID)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 1},
		{Clients: -3},
		{Users: -1},
		{Rounds: -1},
		{Tick: -time.Second},
		{Mix: Mix{Read: -1, Write: 2}},
	} {
		if _, err := Run(cfg, Memory); err == nil {
			t.Errorf("Run(%+v) ran", cfg)
		}
	}
}

func TestParseMix(t *testing.T) {
	mix, err := ParseMix("plant=0, steal=0,login=30")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultMix
	want[Plant], want[Steal], want[Login] = 0, 0, 30
	if mix != want {
		t.Errorf("ParseMix = %v, want %v", mix, want)
	}
	for _, bad := range []string{"plant", "plant=-1", "nope=3", "read=x", "read=0,write=0,rw=0,login=0,logout=0,plant=0,steal=0,destroy-session=0,destroy-user=0,user-sessions=0"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

// mixedUp is a broken store that answers every Load with the record last
// committed, whichever session it belongs to: sessions leak into each other.
type mixedUp struct {
	store.Store
	mu   sync.Mutex
	last string
}

func (s *mixedUp) Commit(ctx context.Context, id string, c store.Change) (store.Result, error) {
	res, err := s.Store.Commit(ctx, id, c)
	if err == nil {
		s.mu.Lock()
		s.last = id
		s.mu.Unlock()
	}
	return res, err
}

func (s *mixedUp) Load(ctx context.Context, id string) (*store.Record, error) {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last != "" {
		id = last
	}
	return s.Store.Load(ctx, id)
}

// Explore finds a broken store, and shrinks: fewer clients and rounds than
// it started with, still failing, with the seed in the report.
func TestExploreShrinks(t *testing.T) {
	broken := func(now func() time.Time, opts ...session.Option) ([]*session.Manager, func(), error) {
		st := memstore.New(memstore.WithClock(now))
		m, err := session.New(append(opts, session.WithStore(&mixedUp{Store: st}))...)
		if err != nil {
			return nil, nil, err
		}
		return []*session.Manager{m}, func() { m.Close(); st.Close() }, nil
	}
	cfg := Config{Seed: 3, Tick: time.Second, Clients: 8, Rounds: 64}
	f, err := Explore(cfg, broken)
	if err != nil {
		t.Fatal(err)
	}
	if f == nil {
		t.Fatal("Explore passed a store that mixes sessions up")
	}
	if f.Config.Clients >= cfg.Clients || f.Config.Rounds >= cfg.Rounds {
		t.Errorf("not shrunk: %s", f.Config)
	}
	if vs := Check(f.History, 0, 0); len(vs) == 0 {
		t.Error("the shrunk history passes")
	}
	if r := f.Report(); !strings.Contains(r, "seed=3") || !strings.Contains(r, "history of the sessions involved") {
		t.Errorf("report:\n%s", r)
	}
}
