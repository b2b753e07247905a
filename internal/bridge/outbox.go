package bridge

import (
	"errors"
	"sync"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/natsnode"
)

var errTooMany = errors.New("too many messages wait for the link")

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
// results, heartbeats) first, in order, then value events, of which it
// keeps only the latest of each id while the link is slower than they
// come. Control messages are bounded in number; events, by the number of
// ids other nodes follow.
type outbox struct {
	mu        sync.Mutex
	ctrlQ     []outMsg
	maxCtrl   int
	evOrder   []string
	ev        map[string]*kervipb.Msg
	coalesced uint64
	dropped   uint64
	wake      chan struct{}
}

func newOutbox(maxCtrl int) *outbox {
	return &outbox{maxCtrl: maxCtrl, ev: map[string]*kervipb.Msg{}, wake: make(chan struct{}, 1)}
}

// event queues m, the numbered event of id: it replaces an older event of
// id that still waits, and is dropped if a newer one waits.
func (o *outbox) event(id string, m *kervipb.Msg) {
	o.mu.Lock()
	if old, ok := o.ev[id]; ok {
		if old.Epoch == m.Epoch && old.Seq >= m.Seq {
			o.mu.Unlock()
			return
		}
		o.coalesced++
		o.ev[id] = m
		o.mu.Unlock()
		return
	}
	o.ev[id] = m
	o.evOrder = append(o.evOrder, id)
	o.mu.Unlock()
}

// take returns what waits: the control messages, then the ids of the
// events, in the order they first waited.
func (o *outbox) take() ([]outMsg, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, e := o.ctrlQ, o.evOrder
	o.ctrlQ, o.evOrder = nil, nil
	return c, e
}

// pop takes the event of id that waits.
func (o *outbox) pop(id string) *kervipb.Msg {
	o.mu.Lock()
	m := o.ev[id]
	delete(o.ev, id)
	o.mu.Unlock()
	return m
}

// requeue puts events that could not be published back, ahead of newer
// ids, unless a newer event of their id waits.
func (o *outbox) requeue(ids []string, ms []*kervipb.Msg) {
	o.mu.Lock()
	var order []string
	for i, id := range ids {
		if _, ok := o.ev[id]; ok || ms[i] == nil {
			continue // a newer one waits already, in order
		}
		o.ev[id] = ms[i]
		order = append(order, id)
	}
	o.evOrder = append(order, o.evOrder...)
	o.mu.Unlock()
}

// pending reports whether anything waits.
func (o *outbox) pending() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.ctrlQ) > 0 || len(o.evOrder) > 0
}

// ctrl queues a control message; one over the bound fails (or is dropped).
func (o *outbox) ctrl(m outMsg) {
	o.mu.Lock()
	if len(o.ctrlQ) >= o.maxCtrl {
		o.dropped++
		o.mu.Unlock()
		if m.fail != nil {
			go m.fail(errTooMany)
		}
		return
	}
	o.ctrlQ = append(o.ctrlQ, m)
	o.mu.Unlock()
}

func (o *outbox) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) kickNow() { o.kick() }

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
			ctrl, ids := b.out.take()
			if len(ctrl) == 0 && len(ids) == 0 {
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
			if len(ids) == 0 {
				continue
			}
			if !b.nc.IsConnected() {
				ms := make([]*kervipb.Msg, len(ids))
				for i, id := range ids {
					ms[i] = b.out.pop(id)
				}
				b.out.requeue(ids, ms)
				break // LinkUp kicks the outbox again
			}
			for i, id := range ids {
				m := b.out.pop(id)
				if m == nil {
					continue
				}
				if err := b.nc.Publish(b.p+".ev."+b.cfg.Node+"."+natsnode.EscapeID(id), marshal(m)); err != nil {
					rest := ids[i:]
					ms := make([]*kervipb.Msg, len(rest))
					ms[0] = m
					for j := 1; j < len(rest); j++ {
						ms[j] = b.out.pop(rest[j])
					}
					b.out.requeue(rest, ms)
					break
				}
			}
			if !b.nc.IsConnected() {
				break
			}
		}
	}
}

var errLinkDown = errors.New("the link to NATS is down")
