package memcachestore

import (
	"testing"
	"time"

	"github.com/tether-go/tether/store"
)

// A rotation indexes its new record before it writes it. DeleteUser that
// reads the index in between lists the new ID but finds no record under it;
// if the rotation then writes the record and moves the old one there before
// DeleteUser ends the old one, DeleteUser follows the tombstone to the new
// record and ends it. It used to stop there, at an ID the index had listed,
// as if it had handled it, and left the session live.
func TestDeleteUserFollowsToAnIndexedRecordItFoundMissing(t *testing.T) {
	hooked, direct, once := twoStores(t)
	ctx := t.Context()
	createUserSession(t, direct, "tab-1", "eve")
	// The rotation's first step: the new record's index entry.
	if _, _, err := direct.ensureIndexed(ctx, "eve", "tab-2", time.Now().Add(time.Hour), true); err != nil {
		t.Fatal(err)
	}
	// The rest lands after DeleteUser read the records, before it ends
	// the old one.
	once(func() {
		createUserSession(t, direct, "tab-2", "eve")
		if err := direct.Move(ctx, "tab-1", store.Moved{To: "tab-2"}, time.Now().Add(time.Minute), 0); err != nil {
			t.Fatal(err)
		}
	})
	n, err := hooked.DeleteUser(ctx, "eve")
	if err != nil {
		t.Fatal(err)
	}
	if rec := mustLoad(t, direct, "tab-2"); rec.Moved == nil || rec.Moved.To != "tab-2" {
		t.Errorf("the record the session rotated to during DeleteUser: moved %v, user %q; want ended", rec.Moved, rec.UserID)
	}
	if n != 1 {
		t.Errorf("DeleteUser = %d, want 1", n)
	}
}
