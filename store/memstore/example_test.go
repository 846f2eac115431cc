package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tether-go/tether/store"
	"github.com/tether-go/tether/store/memstore"
)

func Example() {
	s := memstore.New(memstore.WithMaxEntries(10_000))
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

	// A new session, indexed under its user.
	_, err := s.Commit(ctx, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"cart": []byte("3 items")}, UserID: "alice",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A later request changes one key; others are left as they are.
	res, err := s.Commit(ctx, id, store.Change{
		Mode: store.Update, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"theme": []byte("dark")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, _ := s.Load(ctx, id)
	fmt.Printf("version %d: cart=%s theme=%s\n", res.Version, rec.Values.Get("cart"), rec.Values.Get("theme"))

	// "Log out everywhere": the session ends as a logout ends it, leaving a
	// tombstone that forwards nothing, so a request still in flight with
	// its token drops its changes.
	n, _ := s.DeleteUser(ctx, "alice")
	rec, _ = s.Load(ctx, id)
	fmt.Printf("ended %d session; values %d, ended %v\n", n, rec.Values.Len(), rec.Moved != nil && !rec.Moved.Forwards())
	// Output:
	// version 2: cart=3 items theme=dark
	// ended 1 session; values 0, ended true
}

// A commit that would make a record larger than the per-record limit is
// refused, and the record keeps what it had.
func ExampleWithMaxRecordSize() {
	s := memstore.New(memstore.WithMaxRecordSize(64 << 10))
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	_, err := s.Commit(ctx, id, store.Change{
		Mode: store.Create, Created: now, LastSeen: now, Expires: now.Add(time.Hour),
		Set: map[string][]byte{"upload": make([]byte, 100<<10)},
	})
	var tl *store.TooLargeError
	if errors.As(err, &tl) {
		fmt.Printf("refused: %d bytes over a limit of %d\n", tl.Size-tl.Limit, tl.Limit)
	}
	rec, _ := s.Load(ctx, id)
	fmt.Println("stored:", rec)
	// Output:
	// refused: 36870 bytes over a limit of 65536
	// stored: <nil>
}
