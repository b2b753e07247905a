package bridge

import (
	"errors"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/natsnode"
)

var errTooMany = errors.New("too many messages (or bytes) wait for the link")

// outMsg is a message waiting for the link.
type outMsg struct {
	subj, reply string
	data        []byte
	// drop: the message may be lost if the link is down (the protocol
	// repairs it); fail, if set, is told instead.
	drop bool
	fail func(error)
}

// outbox holds what the bridge publishes, for one goroutine that
// publishes it in order: control messages (catalogue changes, calls,
// results, heartbeats) first, in order, then value events, in order.
// While the publisher keeps up, every event goes out. Once maxEv events
// wait (the link is slower than they come), or while the link is down,
// only the latest event of each id waits: the followers get every change
// while the link keeps up, and the latest of each id, never a backlog,
// after it was slow or down. Control messages are bounded in number and
// bytes; events by maxEv and maxBytes, or by the number of ids other
// nodes follow.
type outbox struct {
	mu        sync.Mutex
	ctrlQ     []outMsg
	maxCtrl   int
	ctrlBytes int            // the size of ctrlQ's messages
	evs       []*kervipb.Msg // waiting events, in order
	maxEv     int
	evBytes   int            // the size of evs's events
	maxBytes  int            // the bound of ctrlBytes, and of evBytes but with latest
	latest    bool           // keep only the latest event of each id
	down      bool           // the link is down: latest stays on
	idx       map[string]int // with latest: id → its event's index in evs
	coalesced uint64
	dropped   uint64
	wake      chan struct{}
}

func newOutbox(maxCtrl, maxEv, maxBytes int) *outbox {
	return &outbox{maxCtrl: maxCtrl, maxEv: maxEv, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

func ctrlSize(m outMsg) int { return len(m.subj) + len(m.reply) + len(m.data) }

// event queues m, the numbered event of id.
func (o *outbox) event(id string, m *kervipb.Msg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	size := m.SizeVT()
	if !o.latest && (len(o.evs) >= o.maxEv || len(o.evs) > 0 && o.evBytes+size > o.maxBytes) {
		o.compactLocked()
	}
	if o.latest {
		if i, ok := o.idx[id]; ok {
			if old := o.evs[i]; old.Epoch != m.Epoch || old.Seq < m.Seq {
				o.evBytes += size - old.SizeVT()
				o.evs[i] = m
				o.coalesced++
			}
			return
		}
		o.idx[id] = len(o.evs)
	}
	o.evs = append(o.evs, m)
	o.evBytes += size
}

// compactLocked keeps only the latest waiting event of each id, in the
// order of those events, and keeps coalescing until the events were taken.
func (o *outbox) compactLocked() {
	o.latest = true
	o.idx = make(map[string]int, len(o.evs))
	keep := o.evs[:0]
	for _, m := range o.evs {
		if i, ok := o.idx[m.Id]; ok {
			if old := keep[i]; old.Epoch != m.Epoch || old.Seq < m.Seq {
				keep[i] = m
			}
			o.coalesced++
			continue
		}
		o.idx[m.Id] = len(keep)
		keep = append(keep, m)
	}
	clear(o.evs[len(keep):])
	o.evs = keep
	o.evBytes = 0
	for _, m := range keep {
		o.evBytes += m.SizeVT()
	}
}

// setDown tells the outbox whether the link is down.
func (o *outbox) setDown(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
	if down && !o.latest {
		o.compactLocked()
	}
}

// take returns what waits: the control messages, then the events.
func (o *outbox) take() ([]outMsg, []*kervipb.Msg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, e := o.ctrlQ, o.evs
	o.ctrlQ, o.evs = nil, nil
	o.ctrlBytes, o.evBytes = 0, 0
	if !o.down {
		o.latest, o.idx = false, nil
	} else {
		o.idx = map[string]int{}
	}
	return c, e
}

// requeue puts events that could not be published back, ahead of those
// that came since, keeping only the latest of each id: the link is down.
func (o *outbox) requeue(ms []*kervipb.Msg) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evs = append(ms, o.evs...)
	o.down = true
	o.compactLocked()
}

// ctrl queues a control message; one over the bounds fails (or is
// dropped). (One larger than maxBytes waits alone.)
func (o *outbox) ctrl(m outMsg) {
	o.mu.Lock()
	size := ctrlSize(m)
	if len(o.ctrlQ) >= o.maxCtrl || len(o.ctrlQ) > 0 && o.ctrlBytes+size > o.maxBytes {
		o.dropped++
		o.mu.Unlock()
		if m.fail != nil {
			go m.fail(errTooMany)
		}
		return
	}
	o.ctrlQ = append(o.ctrlQ, m)
	o.ctrlBytes += size
	o.mu.Unlock()
}

func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// publish publishes what the outbox holds, in order, at the link's pace.
// While the link is down, control messages fail or are dropped (the
// protocol repairs them) and events wait, the latest of each id.
func (b *Bridge) publish() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.out.wake:
		}
		for b.ctx.Err() == nil {
			b.out.setDown(!b.nc.IsConnected())
			ctrl, evs := b.out.take()
			if len(ctrl) == 0 && len(evs) == 0 {
				break
			}
			for _, m := range ctrl {
				var err error
				if !b.nc.IsConnected() {
					err = errLinkDown
				} else if m.reply != "" {
					err = b.nc.PublishRequest(m.subj, m.reply, m.data)
				} else {
					err = b.nc.Publish(m.subj, m.data)
				}
				if err != nil && m.fail != nil {
					m.fail(err)
				}
			}
			sent := 0
			for _, m := range evs {
				if !b.nc.IsConnected() {
					break
				}
				if err := b.nc.Publish(b.evPrefix+natsnode.EscapeID(m.Id), marshal(m)); err != nil {
					if !errors.Is(err, nats.ErrMaxPayload) {
						break // the link is down
					}
					// Cannot happen below the hub's limits; never holds
					// the others back.
					b.log.Error("nodes: an event is too large for NATS", "id", m.Id, "error", err)
				}
				sent++
			}
			if sent < len(evs) {
				b.out.requeue(evs[sent:])
				break // LinkUp kicks the outbox again
			}
		}
	}
}

var errLinkDown = errors.New("the link to NATS is down")
