package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/store"
)

// With the database's default isolation at REPEATABLE READ or SERIALIZABLE
// (ALTER DATABASE ... SET default_transaction_isolation), concurrent commits
// to one session must all succeed and all keys survive: the store runs its
// writes at READ COMMITTED, where an UPDATE that waited for the row lock
// applies to the newest version instead of failing with SQLSTATE 40001.
var _ = backendTest("IsolationDefault", func(t *testing.T, shared *pgxpool.Pool) {
	for _, level := range []string{"repeatable read", "serializable"} {
		t.Run(level, func(t *testing.T) {
			db := "iso_" + randHex(4)
			if _, err := shared.Exec(ctxT(t), "CREATE DATABASE "+db); err != nil {
				t.Fatal(err)
			}
			if _, err := shared.Exec(ctxT(t), "ALTER DATABASE "+db+" SET default_transaction_isolation = '"+level+"'"); err != nil {
				t.Fatal(err)
			}
			cfg := shared.Config()
			cfg.ConnConfig.Database = db
			cfg.MaxConns = 16
			pool, err := pgxpool.NewWithConfig(ctxT(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				pool.Close()
				_, _ = shared.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)")
			}()
			var got string
			if err := pool.QueryRow(ctxT(t), "SHOW default_transaction_isolation").Scan(&got); err != nil || got != level {
				t.Fatalf("default_transaction_isolation = %q, %v; want %q", got, err, level)
			}
			s := newStore(t, pool)
			id, _ := createRecord(t, s, time.Now())

			const n = 400
			var wg sync.WaitGroup
			errs := make(chan error, 2*n)
			for i := range n {
				wg.Go(func() {
					c := store.Change{Mode: store.Update, Set: map[string][]byte{fmt.Sprintf("k%03d", i): []byte("v")}}
					if i%10 == 0 {
						now := time.Now()
						c.LastSeen, c.Expires = now, now.Add(time.Hour)
					}
					if _, err := s.Commit(ctxT(t), id, c); err != nil {
						errs <- fmt.Errorf("commit %d: %w", i, err)
					}
					if i%20 == 0 {
						now := time.Now()
						if err := s.Touch(ctxT(t), id, now, now.Add(time.Hour)); err != nil {
							errs <- fmt.Errorf("touch %d: %w", i, err)
						}
					}
					if i%5 == 0 {
						if _, err := s.Load(ctxT(t), id); err != nil {
							errs <- fmt.Errorf("load %d: %w", i, err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 5 {
					t.Error(err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of the calls failed", failed)
			}
			rec, err := s.Load(ctxT(t), id)
			if err != nil || rec == nil {
				t.Fatalf("Load: %v, %v", rec, err)
			}
			lost := 0
			for i := range n {
				if _, ok := rec.Values.Lookup(fmt.Sprintf("k%03d", i)); !ok {
					lost++
				}
			}
			if lost > 0 {
				t.Errorf("%d of %d keys lost", lost, n)
			}
		})
	}
})
