package memstore

import (
	"fmt"
	"slices"
	"testing"
)

// The index holds the same ids whether a user's entry is a slice or a set:
// a model (a plain set) is checked after every step of adds, repeated adds
// and removes that cross fewIDs both ways, for two users side by side.
func TestUserIndexModel(t *testing.T) {
	var u userIndex
	u.reset()
	model := map[string]map[string]bool{"ann": {}, "bob": {}}
	check := func(step string) {
		t.Helper()
		for user, want := range model {
			if err := sameIDs(u.ids(user), want); err != nil {
				t.Fatalf("%s: ids(%s): %v", step, user, err)
			}
			_, inOne := u.one[user]
			_, inM := u.m[user]
			if inOne != (len(want) == 1) || inM != (len(want) > 1) {
				t.Fatalf("%s: %s with %d ids: in one %v, in m %v (one id: in one only; more: in m only; none: in neither)", step, user, len(want), inOne, inM)
			}
		}
	}
	add := func(user, id string) {
		u.add(user, id)
		model[user][id] = true
		check(fmt.Sprintf("add(%s, %s)", user, id))
	}
	remove := func(user, id string) {
		u.remove(user, id)
		delete(model[user], id)
		check(fmt.Sprintf("remove(%s, %s)", user, id))
	}
	for i := range 3 * fewIDs {
		add("ann", fmt.Sprint("a", i))
		add("ann", fmt.Sprint("a", i)) // again: no duplicate
		if i%3 == 0 {
			add("bob", fmt.Sprint("b", i))
		}
	}
	if u.m["ann"].many == nil || u.m["bob"].many != nil {
		t.Fatalf("ann (%d ids) should be a set and bob (%d) a slice", len(model["ann"]), len(model["bob"]))
	}
	remove("bob", "not-there")
	remove("nobody", "a1")
	for i := range 3 * fewIDs {
		remove("ann", fmt.Sprint("a", i))
		if i%3 == 0 {
			remove("bob", fmt.Sprint("b", i))
		}
	}
	add("ann", "again") // the emptied user starts anew
	remove("ann", "again")
	u.add("", "x") // no user: not indexed
	if len(u.m) != 0 || len(u.one) != 0 {
		t.Fatalf("index not empty at the end: %v, %v", u.one, u.m)
	}
}

// ids returns a copy: a caller that ranges over it while writes change the
// index (UserSessions removes expired records as it goes) sees what was there.
func TestUserIndexIDsIsACopy(t *testing.T) {
	var u userIndex
	u.reset()
	u.add("ann", "1")
	u.add("ann", "2")
	got := u.ids("ann")
	u.remove("ann", "1")
	u.add("ann", "3")
	slices.Sort(got)
	if !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("ids changed under the caller: %v", got)
	}
}
