package ipc

import (
	"errors"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// A mailbox is the queue between a producer of messages and their
// consumer: from a process to the hub, from the hub to a process, and from
// a process's receiver to its dispatcher.
//
// It has two lanes, each with a consumer goroutine of its own that delivers
// what piled up in batches. The control lane carries calls, sets, results
// and most of the life cycle; the event lane carries value events and the
// few messages that must stay in order with them (markers, such as
// KIND_ANNOUNCE and KIND_READY: see ordered). The lanes go to the other
// side on streams of their own, so a consumer that is slow to take value
// events never holds back calls and control. Each lane is first in, first
// out.
//
// Both lanes are bounded. The event lane holds at most lim.events messages
// and lim.eventBytes bytes; a push past that bound starts an episode of
// coalescing: the lane keeps only the latest event of each id until the
// consumer keeps up again (for lim.calm, each time it took a batch it took
// everything, and no event was coalesced while it handled the batch
// before), and the episode is reported at its start and end. When the
// episode starts, each id keeps the place of its latest
// queued event; a later event of the id takes that place instead of going
// to the back, so that an id that changes all the time is not put off for
// ever. So every id's events stay in order, and markers are never dropped,
// but events of different ids may leave in another order than they came,
// and a coalesced event may cross a marker (an id's events never cross the
// marker that announced it: no event of the id was queued before it). The
// control lane is bounded by the calls in flight
// (capped elsewhere); past its own generous bound its consumer is taken for
// gone and the mailbox fails.
//
// Producers that may wait (a publisher, the hub routing a process's
// events, a process's receiver feeding its dispatcher) call waitRoom once
// the event lane is past its soft mark (lim.soft, lim.softBytes): they wait
// until the consumer brought it back under the mark, so that a consumer
// that keeps up gets every event and its producers go at its pace; but not
// longer than lim.stall. A consumer that did not manage within that time is
// stalled (stopped, wedged, or much slower than its producers): an episode
// of coalescing starts at once, and nobody waits for it until it keeps up
// again.
//
// There are no timers on the way: an idle lane delivers a lone message at
// once; a busy one batches whatever piled up while the last batch was
// delivered, up to lim.frame messages and lim.frameBytes bytes per batch.
type mailbox struct {
	lim    boxLimits
	report func(episode) // may be nil; called with no lock held

	mu      sync.Mutex
	ctrl    lane
	ev      lane
	coal    bool           // an episode of coalescing is under way
	stalled bool           // the event consumer failed to keep up: nobody waits for it
	index   map[string]int // while coal: id → position in ev.items of its latest event
	total   uint64         // events coalesced, ever
	began   time.Time      // start of the episode
	count   uint64         // events coalesced in the episode
	recent  uint64         // events coalesced since the event lane's consumer last took a batch
	keptUp  time.Time      // during an episode: since when the consumer keeps up (zero: it does not)
	room    chan struct{}  // closed when the event lane gets under its soft mark; waiters hold it
	waiters int
	dead    bool
	err     error
}

// boxLimits bounds a mailbox.
type boxLimits struct {
	events     int           // value events and markers before coalescing
	eventBytes int64         //
	soft       int           // events past which producers that may wait do
	softBytes  int64         //
	stall      time.Duration // how long a waiting producer waits at most
	calm       time.Duration // how long a consumer keeps up before an episode ends
	ctrl       int           // control messages: past it the mailbox fails
	ctrlBytes  int64         //
	frame      int           // messages per delivery
	frameBytes int64         // bytes per delivery; a larger message goes alone
}

// episode reports the start or the end of an episode of coalescing.
type episode struct {
	start     bool
	began     time.Time
	coalesced uint64 // events coalesced in the episode (at its end)
	total     uint64 // events coalesced by the mailbox, ever
}

// errOverflow fails a mailbox whose consumer let its control lane grow
// past its bound: the process behind it no longer reads.
var errOverflow = errors.New("kervi: control queue overflow: the receiving process does not read")

// item is one entry of a mailbox.
type item struct {
	m    *kervipb.Msg // nil for a slot item until it is taken
	slot *slot        // the latest of a run of coalesced events of one id
	only *subRef      // a new subscriber: the current value of its id (or the catalogue)
	size int32        // bytes it is counted for
}

// key is the id under which the item coalesces, or "" for an item that
// never does (a marker, or the first value for one subscription).
func (it *item) key() string {
	switch {
	case it.slot != nil:
		return it.slot.id
	case it.only != nil:
		return ""
	case it.m.Kind == kervipb.Kind_KIND_EVENT:
		return it.m.Id
	}
	return ""
}

// drop forgets an item that is coalesced away; a slot can no longer be
// joined.
func (it *item) drop() {
	if it.slot != nil {
		it.slot.m.Swap(sentSlot)
	}
}

// ordered reports whether messages of kind k travel in the event lane,
// in order with value events: an announcement before the events of its
// id, a subscription before the events it brings, the markers of the
// life cycle after the events sent before them, the catalogue's changes
// in order with the events of their ids.
func ordered(k kervipb.Kind) bool {
	switch k {
	case kervipb.Kind_KIND_EVENT, kervipb.Kind_KIND_ANNOUNCE, kervipb.Kind_KIND_SUBSCRIBE, kervipb.Kind_KIND_UNSUBSCRIBE,
		kervipb.Kind_KIND_READY, kervipb.Kind_KIND_SETUP_FAILED, kervipb.Kind_KIND_START, kervipb.Kind_KIND_STARTED,
		kervipb.Kind_KIND_APP_READY, kervipb.Kind_KIND_STOPPED, kervipb.Kind_KIND_FOLLOW_CATALOGUE, kervipb.Kind_KIND_CATALOGUE,
		kervipb.Kind_KIND_CATALOGUE_SYNCED, kervipb.Kind_KIND_RETIRE:
		return true
	}
	return false
}

// lane is a FIFO of items with its consumer.
type lane struct {
	items   []item
	head    int
	bytes   int64
	deliver func([]item) error
	wake    chan struct{} // a token means "look at the items"
	busy    bool          // the consumer is delivering
	idle    chan struct{} // closed and replaced whenever the lane empties
	batch   []item        // the consumer's
}

func (l *lane) len() int { return len(l.items) - l.head }

// push appends it. It returns by how many places the items moved to make
// room (0 if none did).
func (l *lane) push(it item) (moved int) {
	if len(l.items) == cap(l.items) && l.head > 0 && l.head >= len(l.items)/4 {
		moved = l.head
		n := copy(l.items, l.items[l.head:])
		clear(l.items[n:])
		l.items = l.items[:n]
		l.head = 0
	}
	l.items = append(l.items, it)
	l.bytes += int64(it.size)
	return moved
}

// pop removes the first item.
func (l *lane) pop() item {
	it := l.items[l.head]
	l.items[l.head] = item{}
	l.head++
	l.bytes -= int64(it.size)
	if l.head == len(l.items) {
		l.head = 0
		if cap(l.items) > 8192 {
			l.items = nil // let a lane that ballooned shrink
		} else {
			l.items = l.items[:0]
		}
	}
	return it
}

// take pops the next batch, within the frame limits.
func (l *lane) take(lim *boxLimits) []item {
	out := l.batch[:0]
	var bytes int64
	for l.len() > 0 && len(out) < lim.frame && (len(out) == 0 || bytes+int64(l.items[l.head].size) <= lim.frameBytes) {
		it := l.pop()
		bytes += int64(it.size)
		out = append(out, it)
	}
	return out
}

// kick wakes the lane's consumer.
func (l *lane) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// newMailbox returns a mailbox whose control lane delivers with ctrl and
// whose event lane delivers with ev (ctrl too, if ev is nil).
func newMailbox(ctrl, ev func([]item) error, lim boxLimits, report func(episode)) *mailbox {
	if ev == nil {
		ev = ctrl
	}
	q := &mailbox{lim: lim, report: report, room: make(chan struct{})}
	for _, l := range []*lane{&q.ctrl, &q.ev} {
		l.wake = make(chan struct{}, 1)
		l.idle = make(chan struct{})
	}
	q.ctrl.deliver, q.ev.deliver = ctrl, ev
	go q.run(&q.ctrl)
	go q.run(&q.ev)
	return q
}

// msgSize is what a message is counted for in the byte bounds: its
// content and what it takes in memory.
func msgSize(m *kervipb.Msg) int32 {
	n := 256 + len(m.Id) + len(m.Text) + len(m.Module)
	if m.Args != nil || m.Result != nil || m.Error != nil || m.Component != nil {
		n += nestedSize(m)
	}
	return int32(min(n, 1<<30))
}

// push queues m in its lane: value events (coalescing at the bound) and
// the ordered messages in the event lane, the rest in the control lane.
// It reports false if the mailbox stopped; wake false leaves the consumer
// asleep, for callers that hold locks (they kick later).
func (q *mailbox) push(m *kervipb.Msg, wake bool) bool {
	if ordered(m.Kind) {
		ok, _ := q.pushEvent(item{m: m, size: msgSize(m)})
		return ok
	}
	it := item{m: m, size: msgSize(m)}
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false
	}
	if q.ctrl.len() >= q.lim.ctrl || q.ctrl.bytes+int64(it.size) > q.lim.ctrlBytes {
		q.stopLocked(errOverflow)
		q.mu.Unlock()
		return false
	}
	q.ctrl.push(it)
	q.mu.Unlock()
	if wake {
		q.ctrl.kick()
	}
	return true
}

// pushEvents appends value events and ordered messages to the event lane,
// in order, coalescing at the bound. It reports false if the mailbox has
// stopped.
func (q *mailbox) pushEvents(its []item) bool {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false
	}
	var ep *episode
	for i := range its {
		if e := q.coalesceLocked(its[i]); e != nil {
			ep = e
		}
	}
	q.mu.Unlock()
	q.ev.kick()
	q.tell(ep)
	return true
}

// pushEvent is pushEvents of one item; over reports whether the lane is
// past its soft mark and its consumer keeps up: a producer that may wait
// should waitRoom.
func (q *mailbox) pushEvent(it item) (ok, over bool) {
	q.mu.Lock()
	if q.dead {
		q.mu.Unlock()
		return false, false
	}
	ep := q.coalesceLocked(it)
	over = q.overLocked()
	q.mu.Unlock()
	q.ev.kick()
	q.tell(ep)
	return true, over
}

// overLocked reports whether producers that may wait should.
func (q *mailbox) overLocked() bool {
	return !q.stalled && !q.coal && (q.ev.len() > q.lim.soft || q.ev.bytes > q.lim.softBytes)
}

// over reports whether producers that may wait should.
func (q *mailbox) over() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overLocked()
}

// pushEvLocked appends it to the event lane, keeping the index current.
func (q *mailbox) pushEvLocked(it item) {
	if moved := q.ev.push(it); moved > 0 && q.coal {
		for k, pos := range q.index {
			q.index[k] = pos - moved
		}
	}
	if q.coal {
		if k := it.key(); k != "" {
			q.index[k] = len(q.ev.items) - 1
		}
	}
}

// coalesceLocked pushes it, starting an episode of coalescing if the lane
// is at its bound; it returns the start or the end of an episode, if it
// started or ended one.
func (q *mailbox) coalesceLocked(it item) (ep *episode) {
	if q.coal && q.ev.len() == 0 {
		ep = q.endLocked() // an idle consumer that kept up long enough
	}
	k := it.key()
	if !q.coal && k != "" && (q.ev.len() >= q.lim.events || q.ev.bytes+int64(it.size) > q.lim.eventBytes) {
		ep = q.startLocked()
	}
	if q.coal && k != "" {
		// The latest event of the id is still queued if it was not taken.
		if pos, ok := q.index[k]; ok && pos >= q.ev.head && pos < len(q.ev.items) {
			old := &q.ev.items[pos]
			old.drop()
			q.ev.bytes += int64(it.size) - int64(old.size)
			*old = it
			q.total++
			q.count++
			q.recent++
			return ep
		}
	}
	q.pushEvLocked(it)
	return ep
}

// startLocked starts an episode: from now on the lane keeps the latest
// event of each id only, starting with those queued. Waiting producers
// stop waiting.
func (q *mailbox) startLocked() *episode {
	q.coal = true
	q.began = time.Now()
	q.count = 0
	q.keptUp = time.Time{}
	q.index = make(map[string]int)
	items := q.ev.items[q.ev.head:]
	keep := make([]bool, len(items))
	for i := len(items) - 1; i >= 0; i-- {
		it := &items[i]
		k := it.key()
		if k == "" {
			keep[i] = true
			continue
		}
		if _, later := q.index[k]; later {
			it.drop()
			q.ev.bytes -= int64(it.size)
			q.count++
			continue
		}
		q.index[k] = i
		keep[i] = true
	}
	w := 0
	for i := range items {
		if keep[i] {
			items[w] = items[i]
			if k := items[w].key(); k != "" {
				q.index[k] = q.ev.head + w
			}
			w++
		}
	}
	clear(items[w:])
	q.ev.items = q.ev.items[:q.ev.head+w]
	q.total += q.count
	q.wakeWaitersLocked()
	return &episode{start: true, began: q.began, total: q.total}
}

// endLocked ends the episode of coalescing if the consumer has kept up for
// lim.calm, and returns its report.
func (q *mailbox) endLocked() *episode {
	if !q.coal || q.keptUp.IsZero() || time.Since(q.keptUp) < q.lim.calm {
		return nil
	}
	q.coal = false
	q.index = nil
	q.keptUp = time.Time{}
	return &episode{began: q.began, coalesced: q.count, total: q.total}
}

func (q *mailbox) wakeWaitersLocked() {
	if q.waiters > 0 {
		close(q.room)
		q.room = make(chan struct{})
		q.waiters = 0
	}
}

// tell reports ep, if any.
func (q *mailbox) tell(ep *episode) {
	if ep != nil && q.report != nil {
		q.report(*ep)
	}
}

// run is the consumer goroutine of lane l; it ends when the mailbox stops.
func (q *mailbox) run(l *lane) {
	for range l.wake {
		for {
			q.mu.Lock()
			if q.dead {
				q.mu.Unlock()
				return
			}
			batch := l.take(&q.lim)
			var ep *episode
			if l == &q.ev {
				// The consumer keeps up when it takes everything and
				// nothing was coalesced since it took the last batch.
				if q.ev.len() == 0 && q.recent == 0 {
					q.stalled = false
					if q.coal && q.keptUp.IsZero() {
						q.keptUp = time.Now()
					}
					ep = q.endLocked()
				} else if q.recent > 0 {
					q.keptUp = time.Time{}
				}
				q.recent = 0
				if q.coal && q.ev.len() == 0 {
					clear(q.index) // the lane's positions start afresh
				}
				if !q.overLocked() {
					q.wakeWaitersLocked()
				}
			}
			if len(batch) == 0 {
				if ep != nil { // report it before flush returns
					q.mu.Unlock()
					q.tell(ep)
					q.mu.Lock()
					if l.len() > 0 && !q.dead {
						q.mu.Unlock()
						continue
					}
				}
				l.busy = false
				close(l.idle)
				l.idle = make(chan struct{})
				q.mu.Unlock()
				break
			}
			l.busy = true
			q.mu.Unlock()
			q.tell(ep)
			err := l.deliver(batch)
			clear(batch)
			if cap(batch) <= 4*q.lim.frame {
				l.batch = batch[:0]
			}
			if err != nil {
				q.kill(err)
				return
			}
		}
	}
}

// waitRoom waits until the event lane is back under its soft mark, for at
// most lim.stall, or until done is closed. It reports false if the
// consumer did not manage in time: it is stalled, and nobody waits for it
// again until it has caught up.
func (q *mailbox) waitRoom(done <-chan struct{}) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		q.mu.Lock()
		if q.dead || !q.overLocked() {
			stalled := q.stalled
			q.mu.Unlock()
			return !stalled
		}
		room := q.room
		q.waiters++
		q.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(q.lim.stall)
		}
		select {
		case <-room:
		case <-timer.C:
			q.mu.Lock()
			var ep *episode
			if !q.stalled && !q.dead {
				q.stalled = true
				if !q.coal {
					ep = q.startLocked()
				}
			}
			q.wakeWaitersLocked()
			q.mu.Unlock()
			q.tell(ep)
			return false
		case <-done:
			return true
		}
	}
}

// coalesced returns how many events the mailbox has coalesced, ever.
func (q *mailbox) coalesced() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// flush waits until everything pushed before it was delivered, the
// mailbox stops, or done is closed (then it returns errFlushAborted).
func (q *mailbox) flush(done <-chan struct{}) error {
	for _, l := range []*lane{&q.ctrl, &q.ev} {
		for {
			q.mu.Lock()
			if q.dead || (l.len() == 0 && !l.busy) {
				dead, err := q.dead, q.err
				q.mu.Unlock()
				if dead {
					return err
				}
				break
			}
			idle := l.idle
			q.mu.Unlock()
			select {
			case <-idle:
			case <-done:
				return errFlushAborted
			}
		}
	}
	return nil
}

var errFlushAborted = errors.New("kervi: flush aborted")

// kill stops the mailbox at once, dropping what is queued.
func (q *mailbox) kill(err error) {
	q.mu.Lock()
	q.stopLocked(err)
	q.mu.Unlock()
}

func (q *mailbox) stopLocked(err error) {
	if q.dead {
		return
	}
	q.dead = true
	q.err = err
	for _, l := range []*lane{&q.ctrl, &q.ev} {
		for i := l.head; i < len(l.items); i++ {
			l.items[i].drop()
		}
		l.items, l.head, l.bytes = nil, 0, 0
		close(l.idle)
		l.idle = make(chan struct{})
		l.kick() // let the consumer see that the mailbox is dead
	}
	q.index = nil
	q.wakeWaitersLocked()
}
