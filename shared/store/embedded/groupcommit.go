package embedded

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs write functions in shared transactions: while one
// commit is being written and synced, calls queue up, and the next commit
// takes every call that queued (up to max). Under light load a call commits
// at once, alone; under heavy load each fsync carries as many calls as
// arrived during the previous one, so throughput grows with load instead of
// being capped by the number of fsyncs a second.
//
// bbolt's own db.Batch is not used because it closes a batch when a fixed
// timer (MaxBatchDelay) fires, not when the writer becomes free: each batch
// then holds one delay's worth of calls however long commits take, and once
// a commit takes longer than the delay the queue grows without bound.
type groupCommit struct {
	db  *bolt.DB
	max int

	mu    sync.Mutex
	queue []call
	busy  bool // a committer goroutine is draining the queue
}

type call struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// run runs fn in a shared transaction and returns once that transaction is
// durable or has failed. Like db.Batch, it may run fn more than once (if
// another call in its transaction fails, the transaction is rolled back and
// retried without that call), so fn must reset any state it reports.
func (g *groupCommit) run(fn func(*bolt.Tx) error) error {
	c := call{fn: fn, err: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	start := !g.busy
	g.busy = true
	g.mu.Unlock()
	if start {
		go g.drain()
	}
	return <-c.err
}

func (g *groupCommit) drain() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), g.max)
		if n == 0 {
			g.busy = false
			g.mu.Unlock()
			return
		}
		calls := g.queue[:n:n]
		if n == len(g.queue) {
			g.queue = nil
		} else {
			g.queue = g.queue[n:]
		}
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction. A call whose fn fails is taken out
// and answered from a transaction of its own; the others are retried
// together.
func (g *groupCommit) commit(calls []call) {
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		c := calls[failed]
		c.err <- g.db.Update(func(tx *bolt.Tx) error { return safely(c.fn, tx) })
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// safely turns a panic in fn into an error for its caller alone, as
// db.Batch does, rather than killing the committer with every waiter.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in store write: %v", p)
		}
	}()
	return fn(tx)
}
