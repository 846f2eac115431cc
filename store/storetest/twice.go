package storetest

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// testWritesTwice: every write is safe to run twice, as a client library
// that resends a command whose reply was lost runs it. The same Update delta
// gives the same values and user, a second Touch re-sets the same times, a
// second Delete of a deleted record succeeds, and the user index ends empty.
func testWritesTwice(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	user := newUser()
	e.create(t, s, id, "", vals("k", "0", "b", "2"))
	c := e.change(store.Update)
	c.Delete, c.Set, c.SetUserID, c.UserID = []string{"k"}, vals("a", "1"), true, user
	for range 2 {
		commit(t, s, id, c)
	}
	rec := mustLoad(t, s, id)
	if rec.Values.Len() != 2 || string(rec.Values.Get("a")) != "1" || string(rec.Values.Get("b")) != "2" || rec.UserID != user {
		t.Errorf("after the same Update twice: values %q, user %q", rec.Values, rec.UserID)
	}
	now := e.now()
	for range 2 {
		if err := s.Touch(e.ctx(t), id, now, now.Add(2*time.Hour)); err != nil {
			t.Fatalf("Touch: %v", err)
		}
	}
	for range 2 {
		if err := s.Delete(e.ctx(t), id); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}
	if infos, err := s.UserSessions(e.ctx(t), user); err != nil || len(infos) != 0 {
		t.Errorf("UserSessions after the Delete: %v, %v", infos, err)
	}
}
