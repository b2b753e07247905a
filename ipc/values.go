package ipc

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// This file holds the values a process owns (registration, publishing,
// restored content, writes from other processes) and the writes it makes.

// valueOwner is how a process serves a value it owns.
type valueOwner struct {
	// Set applies a write from outside (Bus.Set); nil for an output.
	Set func(ctx context.Context, v Value) error
}

// Publisher publishes the events of a value this process owns.
type Publisher struct {
	b  *Bus
	st *idState
}

// RegisterValue claims the id d describes for a value owned by this
// process and announces it to the application, with d as its entry in the
// catalogue (d.Kind KindValue, or zero; d.Module is this module). set
// applies writes from outside (Bus.Set); nil makes the value an output,
// and d.Input follows it. It fails if the id is invalid or already
// registered in this process, if d's texts are not valid UTF-8, or if its
// announcement would be larger than Limits.MaxMessageSize (ErrTooLarge); a
// claim of an id another module owns is reported by the hub, and makes the
// application's start fail.
func (b *Bus) RegisterValue(d Description, set func(ctx context.Context, v Value) error) (*Publisher, error) {
	if d.Kind == 0 {
		d.Kind = KindValue
	}
	if d.Kind != KindValue {
		return nil, fmt.Errorf("kervi: register value %s: its kind is %s, not value", quoteID(d.ID), d.Kind)
	}
	d.Input = set != nil
	st, err := b.claim(d, func(st *idState) { st.value = &valueOwner{Set: set} })
	if err != nil {
		return nil, err
	}
	return &Publisher{b: b, st: st}, nil
}

// ID returns the id of the published value.
func (p *Publisher) ID() string { return p.st.id }

// Followed reports whether another process subscribes to every event of
// the value (a LatestOnly subscription does not count). While none does,
// the bus sends the hub only the latest of the value's queued events,
// which keeps the application's last value current without sending
// changes nobody follows; subscribers in this process get every event
// either way.
func (p *Publisher) Followed() bool { return p.st.interest.Load() }

// CheckValue reports whether v can be the content of the value id: text
// must be valid UTF-8, a number must not be NaN, and the event must fit the
// application's MaxMessageSize. The error is an *Error naming id, matching
// ErrWrongType or ErrTooLarge.
func (b *Bus) CheckValue(id string, v Value) error {
	return checkValue(id, b.module, v, b.lim.MaxMessageSize)
}

// Publish sends a value event to every subscriber in the application.
// Content that cannot cross processes is refused (see CheckValue). If many
// events wait to be sent, Publish waits while they are being sent: a fast
// publisher is slowed to the pace the application takes rather than losing
// events. It never waits longer than Limits.StallTimeout for a hub that
// takes nothing (the parent is stopped); then events are coalesced instead.
// Calls for one id must not run concurrently.
func (p *Publisher) Publish(v Value, t time.Time) error {
	b := p.b
	if err := b.CheckValue(p.st.id, v); err != nil {
		return err
	}
	m := &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: p.st.id, Ts: t.UnixNano()}
	putValue(m, v)
	size := msgSize(m)
	p.st.last.Store(m)
	queued, over := true, false
	switch {
	case p.st.interest.Load():
		p.st.open = nil // a later run of coalesced events goes after this one
		queued, over = b.up.pushEvent(item{m: m, size: size})
	case p.st.open != nil && p.st.open.join(m, size):
	default:
		s := &slot{id: p.st.id, size: size}
		s.m.Store(m)
		p.st.open = s
		queued, over = b.up.pushEvent(item{slot: s, size: size})
	}
	if !queued {
		return nil // stopped: nobody is left to tell
	}
	if hasRefs(&p.st.subs) {
		if b.latestSubs.Load() > 0 && p.st.lopen.Load() != nil {
			p.st.lopen.Store(nil) // latest-only subscribers see every event too
		}
		b.in.pushEvent(item{m: m, size: size}) // subscribers here never hold it back
	} else if b.latestSubs.Load() > 0 && hasRefs(&p.st.latest) {
		if it, ok := p.st.latestItem(m, size); ok {
			b.in.pushEvent(it)
		}
	}
	if over {
		b.up.waitRoom(b.ctx.Done())
	}
	return nil
}

// Restored returns the last value the application saw of id, if this
// module owned id in a process that ended (the module was restarted).
// Values created in setup adopt it as their content and publish it again.
func (b *Bus) Restored(id string) (Event, bool) {
	b.mu.RLock()
	m := b.restored[id]
	b.mu.RUnlock()
	if m == nil {
		return Event{}, false
	}
	return eventFromMsg(m), true
}

// Last returns the last event the process published or received for id.
func (b *Bus) Last(id string) (Event, bool) {
	st := b.lookup(id)
	if st == nil {
		return Event{}, false
	}
	m := st.last.Load()
	if m == nil {
		return Event{}, false
	}
	return eventFromMsg(m), true
}

// Set writes v to the input value id, in whichever process owns it. The
// owner validates the write as it validates its own: the error says if id
// is invalid or unknown, not an input, or v has the wrong type, is out of
// range or too large. v is a Value or a Go value ValueOf accepts.
func (b *Bus) Set(ctx context.Context, id string, v any) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	val, err := ValueOf(v)
	if err != nil {
		return &Error{Code: CodeWrongType, ID: id, Msg: err.Error()}
	}
	if err := checkValue(id, "", val, b.lim.MaxMessageSize); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ctxError(ctx, id)
	}
	if st := b.lookup(id); st != nil && st.value != nil {
		return b.wireErr(id, b.setLocal(NewContext(ctx, b), st, val))
	}
	m := &kervipb.Msg{Kind: kervipb.Kind_KIND_SET, Id: id}
	putValue(m, val)
	_, err = b.ask(ctx, m)
	return err
}

// setLocal applies a set to a value this process owns.
func (b *Bus) setLocal(ctx context.Context, st *idState, v Value) error {
	if st.value.Set == nil {
		return newError(CodeNotSettable, st.id, b.module, "%s is an output: only its owner sets it", st.id)
	}
	return st.value.Set(ctx, v)
}

func (b *Bus) serveSet(m *kervipb.Msg) {
	reply := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id}
	st := b.lookup(m.Id)
	var err error
	v := valueFromMsg(m)
	switch {
	case st == nil || st.value == nil:
		err = newError(CodeUnknownID, m.Id, b.module, "no value %q in this module", m.Id)
	default:
		if err = b.CheckValue(m.Id, v); err == nil {
			b.safely("set", m.Id, func() { err = b.setLocal(b.ctx, st, v) })
		}
	}
	if err != nil {
		reply.Error = toWire(b.module, err)
	}
	b.send(reply)
}
