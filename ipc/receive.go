package ipc

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// This file holds what a bus receives from the hub: the messages of the
// control and event streams, and the dispatcher that runs callbacks.

// receive accepts a batch of messages from the hub; it may be called from
// two goroutines, one per stream. It never runs user code: calls, results,
// cancellations and the messages of the life cycle are handled at once
// (calls start on goroutines of their own, sets are applied in order on
// one), a heartbeat is answered at once, and value events go to the
// dispatcher's queue. A batch of value events waits while the dispatcher
// is more than a few thousand events behind and catching up, up to
// Limits.StallTimeout: this is how a process that keeps up slows its
// publishers to its pace. receive does not keep the slice.
func (b *Bus) receive(msgs []*kervipb.Msg) {
	var evs []item
	var st *idState // of the last event with latest-only subscribers: events of one id come in runs
	for _, m := range msgs {
		if m.Error != nil && !carriesError(m.Kind) {
			b.malformed(m)
			continue
		}
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT:
			size := msgSize(m)
			if b.latestSubs.Load() > 0 {
				if st == nil || st.id != m.Id {
					st = b.lookup(m.Id)
				}
				if st != nil && !hasRefs(&st.subs) && hasRefs(&st.latest) {
					if it, ok := st.latestItem(m, size); ok {
						evs = append(evs, it)
					}
					continue
				}
				if st != nil && st.lopen.Load() != nil {
					st.lopen.Store(nil) // latest-only subscribers see every event too
				}
			}
			evs = append(evs, item{m: m, size: size})
		case kervipb.Kind_KIND_START, kervipb.Kind_KIND_APP_READY:
			evs = append(evs, item{m: m, size: msgSize(m)})
		case kervipb.Kind_KIND_CATALOGUE, kervipb.Kind_KIND_RETIRE, kervipb.Kind_KIND_CATALOGUE_SYNCED:
			b.mu.Lock()
			b.receiveCatalogueLocked(m, &evs)
			b.mu.Unlock()
			st = nil // what follows which id may have changed
			b.reportLate()
		case kervipb.Kind_KIND_PING:
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_PONG, Seq: m.Seq, Coalesced: b.Coalesced()})
		case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET:
			if b.phase.Load() < phaseStarted {
				b.mu.Lock()
				if b.phase.Load() < phaseStarted {
					b.held = append(b.held, m)
					b.mu.Unlock()
					continue
				}
				b.mu.Unlock()
			}
			b.admit(m)
		case kervipb.Kind_KIND_GET:
			b.serveGet(m)
		case kervipb.Kind_KIND_CANCEL:
			b.cancelCall(m)
		case kervipb.Kind_KIND_RESULT:
			b.answer(m)
		case kervipb.Kind_KIND_RESTORE:
			b.mu.Lock()
			b.restored[m.Id] = m
			b.mu.Unlock()
		case kervipb.Kind_KIND_INTEREST:
			b.mu.Lock()
			st := b.stateLocked(m.Id)
			b.mu.Unlock()
			st.interest.Store(m.Flag)
		case kervipb.Kind_KIND_WELCOME:
			b.welcomeOnce.Do(func() {
				b.mu.Lock()
				b.node = m.Text
				b.mu.Unlock()
				close(b.welcome)
			})
		case kervipb.Kind_KIND_REJECTED:
			b.log.Error("announcement rejected", "id", m.Id, "error", fromWire(m.Id, m.Error))
		case kervipb.Kind_KIND_STOP:
			deadline := time.Now().Add(StopTimeout)
			if m.Deadline != 0 {
				deadline = time.Unix(0, m.Deadline)
			}
			go b.stop(deadline)
		default:
			b.log.Warn("unexpected message from the hub", "kind", m.Kind.String(), "id", m.Id)
		}
	}
	if len(evs) > 0 && b.in.pushEvents(evs) && b.in.over() {
		// Subscribers here that keep up get every event: the hub's
		// events wait for them (the stream's flow control), unless they
		// fall behind for long (see Limits.StallTimeout).
		b.in.waitRoom(b.dead)
	}
}

// carriesError reports whether messages of kind k may carry an error; in
// any other message, an error means it was malformed.
func carriesError(k kervipb.Kind) bool {
	return k == kervipb.Kind_KIND_RESULT || k == kervipb.Kind_KIND_REJECTED || k == kervipb.Kind_KIND_SETUP_FAILED
}

// malformed handles a message that could not be decoded: a call or set is
// answered with the error, anything else is reported.
func (b *Bus) malformed(m *kervipb.Msg) {
	switch m.Kind {
	case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET:
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: m.Error})
	default:
		b.log.Error("malformed message from the hub", "kind", m.Kind.String(), "id", validText(m.Id), "error", m.Error.GetMessage())
	}
}

// admit serves a call or set once the module has started.
func (b *Bus) admit(m *kervipb.Msg) {
	if m.Kind == kervipb.Kind_KIND_SET {
		if !b.sets.push(m, true) {
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id,
				Error: toWire(b.module, newError(CodeOwnerGone, m.Id, b.module, "module is stopping"))})
		}
		return
	}
	if m.Deadline != 0 && time.Now().UnixNano() >= m.Deadline {
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id,
			Error: toWire(b.module, newError(CodeDeadlineExceeded, m.Id, b.module, "%v", context.DeadlineExceeded))})
		return
	}
	b.serveCall(m)
}

// undeliverable is told by the transport about a message it could not
// encode for the hub: the message fails alone. A call or set this process
// made fails with the reason; a result is replaced by an error result; an
// event is reported to the error handler.
func (b *Bus) undeliverable(m *kervipb.Msg, err error) {
	switch m.Kind {
	case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET, kervipb.Kind_KIND_DESCRIBE:
		b.answer(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id,
			Error: toWire(b.module, newError(CodeBadArgs, m.Id, b.module, "the request could not be encoded: %v", err))})
	case kervipb.Kind_KIND_RESULT:
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id,
			Error: toWire(b.module, newError(CodeActionFailed, m.Id, b.module, "the result could not be encoded: %v", err))})
	case kervipb.Kind_KIND_EVENT:
		b.ReportError(fmt.Errorf("kervi: value %s: event could not be sent: %w", quoteID(m.Id), err))
	default:
		b.log.Error("message could not be sent to the hub", "kind", m.Kind.String(), "id", validText(m.Id), "error", err)
	}
}

// dispatch handles a batch of the dispatcher's queue: value events, in
// order, and the markers of the life cycle.
func (b *Bus) dispatch(items []item) error {
	var st *idState // of the last event: events of one id come in runs
	for _, it := range items {
		switch {
		case it.only != nil && it.only.st == nil: // a new follower of the catalogue
			if !it.only.s.closed.Load() {
				b.joinCatalogue(it.only.s)
			}
			continue
		case it.only != nil: // a new subscriber: the id's content as it is now
			ref, last := it.only, it.m
			if last == nil {
				last = ref.st.last.Load()
			}
			if last != nil && !ref.seen && !ref.s.closed.Load() {
				ref.seen = true
				b.deliver(ref.s, last)
			}
			continue
		case it.slot != nil: // the latest content, for latest-only subscribers
			m := it.slot.m.Swap(sentSlot)
			if m == sentSlot {
				continue
			}
			if st == nil || st.id != m.Id {
				if st = b.lookup(m.Id); st == nil {
					continue
				}
			}
			if st.value == nil {
				st.last.Store(m)
			}
			b.deliverAll(&st.latest, m)
			continue
		}
		m := it.m
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT:
			if st == nil || st.id != m.Id {
				if st = b.lookup(m.Id); st == nil {
					continue
				}
			}
			if st.value == nil {
				st.last.Store(m)
			}
			if refs := st.subs.Load(); refs != nil {
				for _, ref := range *refs {
					if !ref.s.closed.Load() {
						ref.seen = true
						b.deliver(ref.s, m)
					}
				}
			}
			if b.latestSubs.Load() > 0 { // they see every event of ids followed in full here
				b.deliverAll(&st.latest, m)
			}
		case kervipb.Kind_KIND_CATALOGUE, kervipb.Kind_KIND_RETIRE, kervipb.Kind_KIND_CATALOGUE_SYNCED:
			b.dispatchCatalogue(m)
		case kervipb.Kind_KIND_START:
			b.Go(b.startApp)
		case kervipb.Kind_KIND_APP_READY:
			b.mu.Lock()
			if !b.appReady.Swap(true) {
				close(b.appUp)
			}
			hooks := b.onReady
			b.onReady = nil
			b.mu.Unlock()
			for _, fn := range hooks {
				b.Go(fn)
			}
		}
	}
	return nil
}

func (b *Bus) deliver(s *Subscription, m *kervipb.Msg) {
	defer b.recoverCallback("subscriber", m.Id)
	s.fn(eventFromMsg(m))
}

// deliverAll gives m to the subscribers in list.
func (b *Bus) deliverAll(list *atomic.Pointer[[]*subRef], m *kervipb.Msg) {
	if refs := list.Load(); refs != nil {
		for _, ref := range *refs {
			if !ref.s.closed.Load() {
				ref.seen = true
				b.deliver(ref.s, m)
			}
		}
	}
}

// recoverCallback, deferred, logs a panic of a callback instead of crashing
// the process.
func (b *Bus) recoverCallback(what, id string) {
	if r := recover(); r != nil {
		b.log.Error("callback panicked", "callback", what, "id", id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
}

// safely runs fn, logging a panic instead of crashing the process.
func (b *Bus) safely(what, id string, fn func()) {
	defer b.recoverCallback(what, id)
	fn()
}
