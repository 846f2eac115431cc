package storetest

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// testUpdateLiveAt: an Update whose LiveAt is at or past the record's expiry
// is refused as missing and changes nothing (the caller's clock runs ahead of
// the store's); one whose LiveAt is before it applies.
func testUpdateLiveAt(t *testing.T, e *env) {
	s := e.store(t)
	id := newID()
	rec := e.create(t, s, id, "", vals("a", "1"))

	c := e.change(store.Update)
	c.Set, c.LastSeen, c.Expires = vals("b", "2"), time.Time{}, time.Time{}
	c.LiveAt = rec.Expires.Add(time.Second)
	_, err := s.Commit(e.ctx(t), id, c)
	wantErr(t, "Update with LiveAt past the record's expiry", err, store.ErrNotFound)
	wantSameRecord(t, "record after the refused Update", mustLoad(t, s, id), rec)

	c.LiveAt = rec.Expires.Add(-time.Minute)
	if _, err := s.Commit(e.ctx(t), id, c); err != nil {
		t.Fatalf("Update with LiveAt before the record's expiry: %v", err)
	}
	if got := mustLoad(t, s, id); string(got.Values.Get("b")) != "2" {
		t.Errorf("Update with LiveAt before the expiry did not apply: %q", got.Values.Get("b"))
	}
}
