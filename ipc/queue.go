package ipc

import (
	"context"
	"sync"
)

// queue is a FIFO of messages with one consumer goroutine that takes
// whatever is queued, in batches of at most maxBatch, and hands each batch
// to deliver. There are no timers: an idle queue delivers a lone message at
// once, a busy one batches whatever piled up while the last batch was
// delivered. Pushing never blocks; producers that must not outrun the
// consumer call waitRoom, which blocks while more than high messages wait.
//
// (Delivering from the pushing goroutine when the queue is idle, which
// saves a goroutine wake-up, was measured and made no difference to the
// latency of lone events; see docs/benchmarks.md.)
type queue[T any] struct {
	deliver  func([]T) error
	maxBatch int
	high     int

	mu      sync.Mutex
	items   []T
	spare   []T
	busy    bool          // the consumer is delivering
	wake    chan struct{} // a token means "look at items"
	room    chan struct{} // closed when items are taken; waiters hold it
	waiters int
	idle    chan struct{} // closed and replaced whenever the queue empties
	dead    bool
	err     error
}

func newQueue[T any](deliver func([]T) error, maxBatch, high int) *queue[T] {
	q := &queue[T]{
		deliver:  deliver,
		maxBatch: maxBatch,
		high:     high,
		wake:     make(chan struct{}, 1),
		room:     make(chan struct{}),
		idle:     make(chan struct{}),
	}
	go q.run()
	return q
}

// push appends m; it reports false if the queue has stopped.
func (q *queue[T]) push(m T) bool {
	ok, _ := q.pushFull(m)
	return ok
}

// pushFull appends m; it reports false if the queue has stopped, and
// whether more than high messages wait.
func (q *queue[T]) pushFull(m T) (ok, full bool) {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false, false
	}
	q.items = append(q.items, m)
	full = len(q.items) > q.high
	q.mu.Unlock()
	q.kick()
	return true, full
}

// pushAll appends ms in order; it reports false if the queue has stopped.
func (q *queue[T]) pushAll(ms []T) bool {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, ms...)
	q.mu.Unlock()
	q.kick()
	return true
}

// enqueue appends m without waking the consumer; the caller kicks the
// queue once it released its locks.
func (q *queue[T]) enqueue(m T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false
	}
	q.items = append(q.items, m)
	return true
}

// kick wakes the consumer.
func (q *queue[T]) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drain delivers batches until the queue is empty; q.busy is set.
func (q *queue[T]) drain() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 || q.dead {
			q.busy = false
			close(q.idle)
			q.idle = make(chan struct{})
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = q.spare[:0]
		q.spare = nil
		if q.waiters > 0 {
			close(q.room)
			q.room = make(chan struct{})
			q.waiters = 0
		}
		q.mu.Unlock()

		var err error
		for rest := batch; len(rest) > 0 && err == nil; {
			n := min(len(rest), q.maxBatch)
			err = q.deliver(rest[:n])
			rest = rest[n:]
		}
		clear(batch)

		q.mu.Lock()
		if q.spare == nil && cap(batch) <= 4*q.maxBatch {
			q.spare = batch[:0]
		}
		if err != nil {
			q.stopLocked(err)
		}
		q.mu.Unlock()
	}
}

// run is the consumer goroutine; it ends when the queue stops.
func (q *queue[T]) run() {
	for range q.wake {
		q.mu.Lock()
		if q.dead {
			q.mu.Unlock()
			return
		}
		q.busy = true
		q.mu.Unlock()
		q.drain()
	}
}

// full reports whether more than high messages wait.
func (q *queue[T]) full() bool {
	q.mu.Lock()
	f := len(q.items) > q.high && !q.dead
	q.mu.Unlock()
	return f
}

// waitRoom blocks while more than high messages wait, until ctx ends or
// the queue stops.
func (q *queue[T]) waitRoom(ctx context.Context) error {
	for {
		q.mu.Lock()
		if len(q.items) <= q.high || q.dead {
			q.mu.Unlock()
			return nil
		}
		room := q.room
		q.waiters++
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// flush waits until everything pushed before it was delivered, or ctx
// ends, or the queue stops.
func (q *queue[T]) flush(ctx context.Context) error {
	for {
		q.mu.Lock()
		if q.dead || (len(q.items) == 0 && !q.busy) {
			err := q.err
			q.mu.Unlock()
			return err
		}
		idle := q.idle
		q.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// kill stops the queue at once, dropping what is queued.
func (q *queue[T]) kill(err error) {
	q.mu.Lock()
	q.stopLocked(err)
	q.mu.Unlock()
}

func (q *queue[T]) stopLocked(err error) {
	if q.dead {
		return
	}
	q.dead = true
	q.err = err
	q.items = nil
	if q.waiters > 0 {
		close(q.room)
		q.room = make(chan struct{})
		q.waiters = 0
	}
	close(q.idle)
	q.idle = make(chan struct{})
	select { // let an async queue's goroutine see that it is dead
	case q.wake <- struct{}{}:
	default:
	}
}
