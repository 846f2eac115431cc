package boltstore

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// commitMode selects how writes reach the file. Only groupCommit is offered;
// the others exist so that the benchmarks can compare.
type commitMode int

const (
	groupCommit commitMode = iota // our own: see groupCommitter
	boltBatch                     // bbolt's DB.Batch
	serial                        // one DB.Update, so one fsync, per write
)

// maxGroup bounds the writes one transaction carries, so that one commit's
// latency stays bounded under a flood.
const maxGroup = 256

// groupCommitter runs concurrent writes in shared transactions, so that N
// writers waiting for the disk pay about one fsync together instead of N in
// series. Unlike bbolt's DB.Batch it never waits for company: a write that
// finds the file idle starts at once (a lone writer pays one fsync and no
// delay), and writes that arrive while a transaction commits queue up and go
// together in the next one. The writer at the head of the queue runs it, so
// no goroutine serves others for longer than one transaction.
type groupCommitter struct {
	db      *bolt.DB
	mu      sync.Mutex
	queue   []*call
	running bool // a leader is committing or about to
}

type call struct {
	fn   func(*bolt.Tx) error
	done chan error    // the outcome, buffered
	lead chan struct{} // told to run the next transaction, buffered
}

// do runs fn in a write transaction shared with concurrent writes and returns
// fn's error or the commit's. fn may run more than once (when another write
// of its group fails, the rest run again without it), so it must only write
// through tx and leave its results in variables it sets on every run.
func (g *groupCommitter) do(fn func(*bolt.Tx) error) error {
	c := &call{fn: fn, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	leader := !g.running
	g.running = true
	g.mu.Unlock()
	if leader {
		g.lead()
	}
	for {
		select {
		case err := <-c.done:
			return err
		case <-c.lead:
			g.lead()
		}
	}
}

// lead runs one transaction for the queue's first writes, then hands the
// lead to the next waiting writer, if any.
func (g *groupCommitter) lead() {
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	calls := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	g.run(calls)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].lead <- struct{}{}
	} else {
		g.running = false
		g.queue = nil
	}
	g.mu.Unlock()
}

// run commits calls in one transaction and tells each its outcome. A call
// that fails rolls the transaction back; it is told its error and the
// others run again without it.
func (g *groupCommitter) run(calls []*call) {
	for len(calls) > 0 {
		failed := -1
		var failure error
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		calls[failed].done <- failure
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// safely runs fn, turning a panic into an error so that one bad write cannot
// take the others (and the process) down.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("boltstore: write panicked: %v", r)
		}
	}()
	return fn(tx)
}
