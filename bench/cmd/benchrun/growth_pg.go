package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tether-go/tether/bench/pgserver"
	"github.com/tether-go/tether/store/pgstore"
)

// pgCounter counts the statements and batches a pool sends: each is one
// round trip (pgx sends BEGIN and COMMIT as statements too).
type pgCounter struct{ n atomic.Int64 }

func (c *pgCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *pgCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *pgCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *pgCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *pgCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// postgres measures pgstore: table + index bytes per session at each step,
// the user operations, and the reaper with o.reapN expired rows.
func (res *growthResults) postgres(ctx context.Context, o options, userSizes []int) error {
	srv, err := pgserver.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()
	pcfg, err := pgxpool.ParseConfig(srv.DSN)
	if err != nil {
		return err
	}
	counter := &pgCounter{}
	pcfg.ConnConfig.Tracer = counter
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	// The reaper stays out of the size and user measurements.
	ps, err := pgstore.New(ctx, pool, pgstore.WithReapInterval(time.Hour), pgstore.WithNotify(false))
	if err != nil {
		return err
	}
	defer ps.Close()
	size := func() (int64, error) {
		var n int64
		err := pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", ps.Table()).Scan(&n)
		return n, err
	}
	for _, n := range res.ns {
		if _, err := pool.Exec(ctx, "TRUNCATE "+ps.Table()); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, "VACUUM FULL "+ps.Table()); err != nil {
			return err
		}
		before, err := size()
		if err != nil {
			return err
		}
		var pay atomic.Int64
		if err := parallel(n, 16, func(i int) error {
			id, user := growthToken(), "user-"+strconv.Itoa(i)
			pay.Add(int64(payload(id, user)))
			_, err := ps.Commit(ctx, id, createChange(user))
			return err
		}); err != nil {
			return fmt.Errorf("pgstore commit: %w", err)
		}
		// Size and plans as autovacuum would leave them: the visibility
		// and free space maps exist after a VACUUM, and the planner has
		// statistics (without them UserSessions scans the table).
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+ps.Table()); err != nil {
			return err
		}
		after, err := size()
		if err != nil {
			return err
		}
		res.rows = append(res.rows, growthRow{what: "tether pgstore (pg_total_relation_size: table, TOAST and indexes)", n: n,
			bytes: float64(after-before) / float64(n), payload: float64(pay.Load()) / float64(n)})
		progress("growth: postgres, %d sessions", n)
	}
	for _, k := range userSizes {
		row, err := timeUserOpsPG(ctx, ps, counter, k)
		if err != nil {
			return fmt.Errorf("pgstore users, %d sessions: %w", k, err)
		}
		res.users = append(res.users, row)
	}
	if o.reapN > 0 {
		r, err := reapRun(ctx, pool, ps, o.reapN)
		if err != nil {
			return fmt.Errorf("reaper: %w", err)
		}
		res.reap = r
	}
	return nil
}

func timeUserOpsPG(ctx context.Context, ps *pgstore.Store, c *pgCounter, k int) (userOpRow, error) {
	// timeUserOps counts with an apps.Counter; Postgres has its own
	// counter, so it runs here with the same shape.
	row := userOpRow{backend: "pgstore", sessions: k}
	const reps = 5
	var lists, dels []time.Duration
	var listRT, delRT []float64
	for rep := range reps {
		user := fmt.Sprintf("pg-%d-%d", k, rep)
		if err := parallel(k, 8, func(int) error {
			_, err := ps.Commit(ctx, growthToken(), createChange(user))
			return err
		}); err != nil {
			return row, err
		}
		c0 := c.n.Load()
		t := time.Now()
		infos, err := ps.UserSessions(ctx, user)
		lists = append(lists, time.Since(t))
		c1 := c.n.Load()
		if err != nil {
			return row, err
		}
		if len(infos) != k {
			return row, fmt.Errorf("UserSessions listed %d of %d", len(infos), k)
		}
		t = time.Now()
		n, err := ps.DeleteUser(ctx, user)
		dels = append(dels, time.Since(t))
		c2 := c.n.Load()
		if err != nil {
			return row, err
		}
		if n != k {
			return row, fmt.Errorf("DeleteUser deleted %d of %d", n, k)
		}
		listRT = append(listRT, float64(c1-c0))
		delRT = append(delRT, float64(c2-c1))
	}
	slices.Sort(lists)
	slices.Sort(dels)
	row.listLat, row.delLat = lists[reps/2], dels[reps/2]
	row.listRT, row.delRT = series(listRT).median(), series(delRT).median() // as for redisstore
	return row, nil
}

// reapRun inserts n rows that expired two hours ago (one INSERT … SELECT
// generate_series, in the shape pgstore writes), keeps 1000 live sessions,
// and measures: the p99 of Loads of live sessions for 2 s with no reaper;
// then the time a store with a short reap interval takes to delete every
// expired row, and the p99 of the same Loads meanwhile.
func reapRun(ctx context.Context, pool *pgxpool.Pool, ps *pgstore.Store, n int) (*reapResult, error) {
	if _, err := pool.Exec(ctx, "TRUNCATE "+ps.Table()); err != nil {
		return nil, err
	}
	live := make([]string, 1000)
	for i := range live {
		live[i] = growthToken()
		if _, err := ps.Commit(ctx, live[i], createChange("live-"+strconv.Itoa(i))); err != nil {
			return nil, err
		}
	}
	_, err := pool.Exec(ctx, `INSERT INTO `+ps.Table()+` (id, vals, user_id, created, last_seen, expires, version)
		SELECT md5(g::text) || md5((g+1)::text), '{"name":"`+growthStrings["name"]+`","email":"`+growthStrings["email"]+`","prefs":"`+growthStrings["prefs"]+`"}'::jsonb,
		       'user-' || g, now() - interval '3 hours', now() - interval '3 hours', now() - interval '2 hours', 1
		FROM generate_series(1, $1) g`, n)
	if err != nil {
		return nil, fmt.Errorf("insert expired rows: %w", err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+ps.Table()); err != nil {
		return nil, err
	}
	r := &reapResult{n: n}
	if err := pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", ps.Table()).Scan(&r.tableBefore); err != nil {
		return nil, err
	}
	loads := func(stop <-chan struct{}) (time.Duration, error) {
		var (
			mu   sync.Mutex
			lat  []time.Duration
			ferr error
			wg   sync.WaitGroup
		)
		for w := range 4 {
			wg.Go(func() {
				for i := w; ; i += 4 {
					select {
					case <-stop:
						return
					default:
					}
					t := time.Now()
					rec, err := ps.Load(ctx, live[i%len(live)])
					d := time.Since(t)
					mu.Lock()
					lat = append(lat, d)
					if err != nil || rec == nil {
						ferr = fmt.Errorf("load during reap: %v, %v", rec, err)
					}
					mu.Unlock()
					if ferr != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		if len(lat) == 0 {
			return 0, ferr
		}
		return lat[len(lat)*99/100], ferr
	}
	stop := make(chan struct{})
	time.AfterFunc(2*time.Second, func() { close(stop) })
	if r.p99Before, err = loads(stop); err != nil {
		return nil, err
	}

	const interval = 100 * time.Millisecond
	stop = make(chan struct{})
	p99 := make(chan time.Duration, 1)
	var loadErr error
	go func() {
		d, err := loads(stop)
		loadErr = err
		p99 <- d
	}()
	t0 := time.Now()
	reaper, err := pgstore.New(ctx, pool, pgstore.WithReapInterval(interval), pgstore.WithNotify(false))
	if err != nil {
		close(stop)
		return nil, err
	}
	for {
		var left int64
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+ps.Table()+" WHERE expires < now()").Scan(&left); err != nil {
			close(stop)
			reaper.Close()
			return nil, err
		}
		if left == 0 {
			break
		}
		if time.Since(t0) > 10*time.Minute {
			close(stop)
			reaper.Close()
			return nil, fmt.Errorf("%d expired rows left after 10 minutes", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.elapsed = time.Since(t0) - interval // the first round starts one interval after New
	close(stop)
	reaper.Close()
	r.p99During = <-p99
	if loadErr != nil {
		return nil, loadErr
	}
	r.rate = float64(n) / r.elapsed.Seconds()
	r.note = fmt.Sprintf("Reaper batches of %d rows (pgstore's default), one transaction each under an advisory lock; the expired rows were inserted directly in pgstore's row shape; the figures include the 50 ms polling that detected the end.", pgstore.DefaultReapBatch)
	return r, nil
}
