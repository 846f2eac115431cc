package mongostore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A stopped server gives errors, never "no session" (nil record, nil error,
// or ErrNotFound), which the session manager would turn into a new, empty
// session; the client recovers once it is back on the same port and data
// directory, with nothing acknowledged lost.
func TestFault(t *testing.T) {
	srv := startFerret(t)
	s := newStore(t, connect(t, srv.URI()), WithTimeout(2*time.Second))
	ctx := ctxT(t)

	type acked struct {
		id      string
		version uint64
	}
	var records []acked
	for i := range 10 {
		id, _ := createRecord(t, s, time.Now())
		res, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"n": fmt.Appendf(nil, "%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, acked{id, res.Version})
	}

	srv.Stop()
	id := records[0].id
	notNoSession := func(what string, err error) {
		t.Helper()
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
			t.Errorf("%s with the server down: %v, want an outage error", what, err)
		}
	}
	rec, err := s.Load(ctx, id)
	if rec != nil {
		t.Errorf("Load with the server down returned a record: %+v", rec)
	}
	notNoSession("Load", err)
	_, err = s.Version(ctx, id)
	notNoSession("Version", err)
	_, err = s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"lost": []byte("1")}})
	notNoSession("Update", err)
	now := time.Now()
	_, err = s.Commit(ctx, newID(), store.Change{Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour)})
	notNoSession("Create", err)
	notNoSession("Touch", s.Touch(ctx, id, now, now.Add(time.Hour)))
	notNoSession("Move", s.Move(ctx, id, store.Moved{To: newID()}, now.Add(time.Minute), 0))
	_, err = s.UserSessions(ctx, "someone")
	notNoSession("UserSessions", err)
	if n, err := s.DeleteUser(ctx, "someone"); n != 0 || err == nil {
		t.Errorf("DeleteUser with the server down: %d, %v; want 0 and an outage error", n, err)
	}
	if err := s.Delete(ctx, id); err == nil {
		t.Error("Delete with the server down: nil, want an outage error")
	}
	notNoSession("Ping", s.Ping(ctx))
	t.Logf("an error with the server down: %v", err)

	srv.Restart(t)
	var perr error
	for start := time.Now(); time.Since(start) < 15*time.Second; time.Sleep(100 * time.Millisecond) {
		if perr = s.Ping(ctx); perr == nil {
			break
		}
	}
	if perr != nil {
		t.Fatalf("Ping after the restart: %v", perr)
	}
	for i, r := range records {
		rec, err := s.Load(ctx, r.id)
		if err != nil || rec == nil || rec.Version < r.version || !bytes.Equal(rec.Values.Get("n"), fmt.Appendf(nil, "%d", i)) {
			t.Errorf("acknowledged record %d after the restart: %+v, %v", i, rec, err)
		}
	}
	if _, err := s.Commit(ctx, id, store.Change{Mode: store.Update, Set: map[string][]byte{"after": []byte("1")}}); err != nil {
		t.Errorf("Update after the restart: %v", err)
	}
}
