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
	fmt.Printf("after reopening: cart=%s user=%s\n", rec.Values["cart"], rec.UserID)

	// A second process (or Open) on the same file is refused, not blocked.
	_, err = boltstore.Open(path, boltstore.WithLockTimeout(50*time.Millisecond))
	fmt.Println("second open locked:", errors.Is(err, boltstore.ErrLocked))
	// Output:
	// after reopening: cart=3 items user=alice
	// second open locked: true
}
