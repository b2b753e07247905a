package ipc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Reads of a value's content, and descriptions of ids, from any process.
//
// A read goes to the value's owner, which answers at once from the content
// it last published, below user code: the hub's copy of a value's last
// event can lag behind its owner (an owner nobody else follows sends the
// hub only the latest of its queued events, and a set's result overtakes
// the event the set caused), so a read answered by the hub could miss a
// set its caller has just made. A description comes from the hub, which
// keeps what every owner announced.

// Get returns the current content of the value id, wherever in the
// application its owner lives: the content its owner last published, and
// when it changed. A value this process owns is read here.
//
// The error is an *Error (or wraps one) matching ErrInvalidID,
// ErrUnknownID (no module owns id, or id is an action), ErrNoValue (the
// value has no content yet), ErrOwnerGone (its module is not running),
// ErrNotReady (a module's setup read an id no module owns yet),
// context.Canceled or context.DeadlineExceeded.
//
// Before the application is ready, a read of an id no module owns yet
// waits until the application is ready, for as long as ctx allows, then
// fails with ErrUnknownID if still nobody owns it; once the application
// is ready it fails at once. Calls, sets and Describe wait alike. Code
// that the application waits for cannot wait for it: in a module's setup
// such a read fails at once with ErrNotReady, and in its app-start hooks
// (controllers' Start, when every module has announced its ids) with
// ErrUnknownID.
func (b *Bus) Get(ctx context.Context, id string) (Event, error) {
	if err := ValidateID(id); err != nil {
		return Event{}, err
	}
	if ctx.Err() != nil {
		return Event{}, ctxError(ctx, id)
	}
	if st := b.lookup(id); st != nil && st.value != nil {
		m, err := b.current(st)
		if err != nil {
			return Event{}, b.wireErr(id, err)
		}
		return eventFromMsg(m), nil
	}
	r, err := b.ask(ctx, &kervipb.Msg{Kind: kervipb.Kind_KIND_GET, Id: id})
	if err != nil {
		return Event{}, err
	}
	if r.Type == kervipb.ValueType_VALUE_TYPE_UNSPECIFIED {
		return Event{}, &Error{Code: CodeNoValue, ID: id, Module: r.Module, Msg: "no content yet"}
	}
	ev := eventFromMsg(r)
	ev.ID = id
	return ev, nil
}

// current returns the last event of a value this process owns.
func (b *Bus) current(st *idState) (*kervipb.Msg, error) {
	m := st.last.Load()
	if m == nil {
		return nil, newError(CodeNoValue, st.id, b.module, "no content yet")
	}
	return m, nil
}

// serveGet answers a read of a value this process owns, at once.
func (b *Bus) serveGet(m *kervipb.Msg) {
	reply := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id}
	st := b.lookup(m.Id)
	if st == nil || st.value == nil {
		reply.Error = toWire(b.module, newError(CodeUnknownID, m.Id, b.module, "no value %q in this module", m.Id))
	} else if last, err := b.current(st); err != nil {
		reply.Error = toWire(b.module, err)
	} else {
		reply.Type, reply.Number, reply.Flag, reply.Text, reply.Instant, reply.Ts =
			last.Type, last.Number, last.Flag, last.Text, last.Instant, last.Ts
	}
	b.send(reply)
}

// Get returns the current content of the value id as a T, with the bus
// that ctx carries (every context kervi hands out carries one); see
// Bus.Get for what it reads and its errors. T is one of:
//
//	float64    a number value
//	bool       a bool value
//	string     a string, enum or color value
//	time.Time  a datetime value
//	Value      any value's content
//	Event      any value's content, with its id and when it changed
//
// A value of another type, or any other T, gives an *Error matching
// ErrWrongType that names the id and both types.
func Get[T any](ctx context.Context, id string) (T, error) {
	var out T
	if _, err := convertEvent(&out, Event{}); err != nil {
		return out, &Error{Code: CodeWrongType, ID: id, Msg: err.Error()}
	}
	b, ok := FromContext(ctx)
	if !ok {
		return out, fmt.Errorf("kervi: get %s: %w", quoteID(id), ErrNoBus)
	}
	ev, err := b.Get(ctx, id)
	if err != nil {
		return out, err
	}
	if ok, err := convertEvent(&out, ev); !ok {
		return out, &Error{Code: CodeWrongType, ID: id, Msg: err.Error()}
	}
	return out, nil
}

// convertEvent stores ev in *out, a pointer to one of Get's types. With
// the zero Event it only checks the type; it reports whether it stored ev.
func convertEvent(out any, ev Event) (bool, error) {
	v := ev.Value
	check := ev.Value.IsZero()
	wrong := func(want string) (bool, error) {
		if check {
			return false, nil
		}
		return false, fmt.Errorf("a %s value cannot be read as %s", v.Type(), want)
	}
	switch p := out.(type) {
	case *float64:
		if v.Type() != TypeNumber {
			return wrong("float64")
		}
		*p = v.Number()
	case *bool:
		if v.Type() != TypeBool {
			return wrong("bool")
		}
		*p = v.Bool()
	case *string:
		if t := v.Type(); t != TypeString && t != TypeEnum && t != TypeColor {
			return wrong("string")
		}
		*p = v.Text()
	case *time.Time:
		if v.Type() != TypeDateTime {
			return wrong("time.Time")
		}
		*p = v.Time()
	case *Value:
		*p = v
	case *Event:
		*p = ev
	default:
		return false, fmt.Errorf("%T is not a type values are read as (float64, bool, string, time.Time, ipc.Value, ipc.Event)", out)
	}
	return true, nil
}

// Describe returns the description of id, wherever in the application
// its owner lives: what its owner announced, and the owner's module. An id
// this process owns is described here. It fails, and waits before the
// application is ready, as Get does; an action is described too.
func (b *Bus) Describe(ctx context.Context, id string) (Description, error) {
	if err := ValidateID(id); err != nil {
		return Description{}, err
	}
	if ctx.Err() != nil {
		return Description{}, ctxError(ctx, id)
	}
	if d, ok := b.ownDescription(id); ok {
		return d, nil
	}
	r, err := b.ask(ctx, &kervipb.Msg{Kind: kervipb.Kind_KIND_DESCRIBE, Id: id})
	if err != nil {
		return Description{}, err
	}
	if r.Component == nil {
		return Description{}, &Error{Code: CodeMalformed, ID: id, Msg: "the hub's answer has no description"}
	}
	d, err := describe(id, r.Component)
	if err != nil {
		return Description{}, &Error{Code: CodeMalformed, ID: id, Msg: "the hub's description: " + err.Error()}
	}
	d.Module = r.Module
	return d, nil
}

// ownDescription returns the description of an id this process owns and
// announced.
func (b *Bus) ownDescription(id string) (Description, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.ids[id]; st != nil && st.own != nil {
		d := st.own.Clone()
		d.Node = b.node
		return d, true
	}
	return Description{}, false
}

// describeLocked answers a module's KIND_DESCRIBE from the hub's
// directory.
func (h *hubCore) describeLocked(r *router, p *hubPort, m *kervipb.Msg) {
	reply := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id}
	var o *owner
	if e := h.ids[m.Id]; e != nil {
		o = e.owner
	}
	switch err := ValidateID(m.Id); {
	case err != nil:
		reply.Error = toWire("", err)
	case o == nil && p.phase == phaseSetup && !h.appReady:
		reply.Error = toWire("", newError(CodeNotReady, m.Id, "", "no module owns %q yet: a module's setup cannot wait for other modules", m.Id))
	case o == nil:
		reply.Error = toWire("", newError(CodeUnknownID, m.Id, "", "no module owns %q", m.Id))
	default:
		reply.Component, reply.Module = o.comp, o.module
	}
	r.send(p, reply)
}

// ask sends a call, set, read or description request, as request does,
// and waits for the application to be ready if the hub answers that no
// module owns the id yet and the request can wait: it is made neither in
// the process's setup (where the hub answers ErrNotReady) nor by one of its
// app-start hooks, and the application is not ready. Then it asks once
// more.
func (b *Bus) ask(ctx context.Context, m *kervipb.Msg) (*kervipb.Msg, error) {
	for first := true; ; first = false {
		if !first {
			m = shallowCopy(m) // the hub had the first; this is a new request
		}
		r, err := b.request(ctx, m)
		if err == nil || !b.mayWaitFor(ctx, err) {
			return r, err
		}
		select {
		case <-b.appUp:
		case <-ctx.Done():
			return nil, ctxError(ctx, m.Id)
		case <-b.ctx.Done():
			return nil, &Error{Code: CodeOwnerGone, ID: m.Id, Msg: ErrClosed.Error()}
		case <-b.dead:
			return nil, &Error{Code: CodeOwnerGone, ID: m.Id, Msg: ErrClosed.Error()}
		}
	}
}

// mayWaitFor reports whether a request made with ctx that failed with err
// should wait for the application to be ready, then be asked again: the
// hub found no owner of the id (ErrNotReady too: the hub had not yet seen
// the end of this process's setup, which travels behind its value
// events). While the process runs its app-start hooks, only requests of
// other goroutines wait: the application's readiness waits for the hooks,
// so a hook's request fails at once.
func (b *Bus) mayWaitFor(ctx context.Context, err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUnknownID && e.Code != CodeNotReady || e.Module != "" || b.appReady.Load() {
		return false // an answer from an owner names its module
	}
	switch b.phase.Load() {
	case phaseReady, phaseStarted:
		return true
	case phaseStarting:
		return ctx.Value(startHookKey{}) == nil
	}
	return false
}

// startHookKey marks the context of an app-start hook.
type startHookKey struct{}

// Set writes v to the input value id with the bus ctx carries, as
// Bus.Set does: the counterpart of Get for code that has a context from
// kervi (an action, a controller's hook, a request handler whose server
// uses Application.Context). It fails with ErrNoBus if ctx carries none.
func Set(ctx context.Context, id string, v any) error {
	b, ok := FromContext(ctx)
	if !ok {
		return fmt.Errorf("kervi: set %s: %w", quoteID(id), ErrNoBus)
	}
	return b.Set(ctx, id, v)
}
