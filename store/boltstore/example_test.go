package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")

	s, err := boltstore.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	now := time.Now()
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	_, err = s.Commit(ctx, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"cart": []byte("3 items")}, UserID: "alice", SetUserID: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Close() // a pod restart

	s, err = boltstore.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	rec, _ := s.Load(ctx, id)
	fmt.Printf("after reopening: cart=%s user=%s\n", rec.Values.Get("cart"), rec.UserID)

	// A second process (or Open) on the same file is refused, not blocked.
	_, err = boltstore.Open(path, boltstore.WithLockTimeout(50*time.Millisecond))
	fmt.Println("second open locked:", errors.Is(err, boltstore.ErrLocked))
	// Output:
	// after reopening: cart=3 items user=alice
	// second open locked: true
}

// A "your devices" page: the attributes set at login come back from
// UserSessions, which does not load the sessions' values.
func ExampleStore_UserSessions() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := boltstore.Open(filepath.Join(dir, "sessions.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	id := "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	_, err = s.Commit(ctx, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		UserID: "alice", SetUserID: true,
		SetAttrs: true, Attrs: map[string]string{"device": "Alice's laptop"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	infos, err := s.UserSessions(ctx, "alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, in := range infos {
		fmt.Println(in.ID[:8], in.Attrs["device"])
	}
	// Output:
	// 60303ae2 Alice's laptop
}
