package ipc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// This file holds actions: registering them, calling them by id and
// serving calls from other processes.

// wireErr makes err look as it would after crossing processes.
func (b *Bus) wireErr(id string, err error) error {
	if err == nil {
		return nil
	}
	return fromWire(id, toWire(b.module, err))
}

// Args are the arguments of an action call, in wire form.
type Args struct{ data []*kervipb.Data }

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.data) }

// Any returns argument i as its natural Go value (see Decode).
func (a Args) Any(i int) any { return decode(a.data[i]) }

// DecodeTo converts argument i to type t (see DecodeTo).
func (a Args) DecodeTo(i int, t reflect.Type) (reflect.Value, error) {
	return decodeTo(a.data[i], t)
}

// actionOwner is how a process serves an action it owns.
type actionOwner struct {
	Handler func(ctx context.Context, args Args) (any, error)
}

// RegisterAction claims the id d describes for an action owned by this
// process, with d as its entry in the catalogue (d.Kind KindAction, or
// zero). handler runs the action: its ctx carries the bus and ends when
// the caller cancels, the caller's deadline passes, or the module stops;
// its result must be a type Encode accepts. It fails as RegisterValue
// does.
func (b *Bus) RegisterAction(d Description, handler func(ctx context.Context, args Args) (any, error)) error {
	if d.Kind == 0 {
		d.Kind = KindAction
	}
	if d.Kind != KindAction {
		return fmt.Errorf("kervi: register action %s: its kind is %s, not action", quoteID(d.ID), d.Kind)
	}
	if handler == nil {
		return fmt.Errorf("kervi: action %s: nil handler", quoteID(d.ID))
	}
	_, err := b.claim(d, func(st *idState) { st.action = &actionOwner{Handler: handler} })
	return err
}

// Call calls the action id, in whichever process owns it, and returns its
// result as a natural Go value (see Decode). The error is an *Error (or
// wraps one) matching ErrInvalidID, ErrUnknownID, ErrBadArgs, ErrTooLarge,
// ErrActionFailed, ErrPanic, ErrOwnerGone, ErrBusy, ErrNotReady,
// context.Canceled or context.DeadlineExceeded. Cancelling ctx, or its
// deadline passing, cancels the context of the running action, in its own
// process.
func (b *Bus) Call(ctx context.Context, id string, args ...any) (any, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	data, err := encodeArgs(args)
	if err != nil {
		return nil, &Error{Code: CodeBadArgs, ID: id, Msg: err.Error()}
	}
	if n := dataSize(data...) + len(id); n > b.lim.MaxMessageSize {
		return nil, &Error{Code: CodeTooLarge, ID: id,
			Msg: fmt.Sprintf("arguments of %d bytes are larger than the limit of %d bytes", n, b.lim.MaxMessageSize)}
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(ctx, id)
	}
	if st := b.lookup(id); st != nil && st.action != nil {
		res, err := b.invoke(NewContext(ctx, b), id, st.action, data)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctxError(ctx, id)
			}
			return nil, b.wireErr(id, err)
		}
		return decode(res), nil
	}
	r, err := b.ask(ctx, &kervipb.Msg{Kind: kervipb.Kind_KIND_CALL, Id: id, Args: data})
	if err != nil {
		return nil, err
	}
	return decode(r.GetResult()), nil
}

// request sends a call or set to the hub and waits for its result.
func (b *Bus) request(ctx context.Context, m *kervipb.Msg) (*kervipb.Msg, error) {
	m.Seq = b.seq.Add(1)
	if dl, ok := ctx.Deadline(); ok {
		m.Deadline = dl.UnixNano()
	}
	ch := make(chan *kervipb.Msg, 1)
	b.mu.Lock()
	if len(b.pending) >= b.lim.MaxCalls {
		n := len(b.pending)
		b.mu.Unlock()
		return nil, &Error{Code: CodeBusy, ID: m.Id, Module: b.module,
			Msg: fmt.Sprintf("module %q has %d calls and sets in flight, the limit", b.module, n)}
	}
	b.pending[m.Seq] = ch
	b.mu.Unlock()
	if !b.send(m) {
		b.forget(m.Seq)
		return nil, &Error{Code: CodeOwnerGone, ID: m.Id, Msg: ErrClosed.Error()}
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return nil, fromWire(m.Id, r.Error)
		}
		return r, nil
	case <-ctx.Done():
		b.forget(m.Seq)
		if m.Deadline == 0 || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// A passed deadline needs no message: the owner holds the
			// same deadline, so its action sees DeadlineExceeded too.
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_CANCEL, Seq: m.Seq, Id: m.Id})
		}
		return nil, ctxError(ctx, m.Id)
	case <-b.dead:
		return nil, &Error{Code: CodeOwnerGone, ID: m.Id, Msg: ErrClosed.Error()}
	}
}

func (b *Bus) forget(seq uint64) {
	b.mu.Lock()
	delete(b.pending, seq)
	b.mu.Unlock()
}

// answer delivers the result of a call or set this process made.
func (b *Bus) answer(r *kervipb.Msg) {
	b.mu.Lock()
	ch := b.pending[r.Seq]
	delete(b.pending, r.Seq)
	b.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

// invoke runs an action handler, turning a panic into an error, and
// encodes its result, which must fit the message size limit.
func (b *Bus) invoke(ctx context.Context, id string, a *actionOwner, data []*kervipb.Data) (res *kervipb.Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("action panicked", "action", id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			res, err = nil, newError(CodePanic, id, b.module, "action panicked: %v", r)
		}
	}()
	out, err := a.Handler(ctx, Args{data})
	if err != nil {
		e := actionError(id, b.module, err)
		if cerr := ctx.Err(); cerr != nil && e.Code == CodeActionFailed {
			// The action gave up because it was cancelled; say so.
			e.Code, e.Msg = codeOf(cerr), cerr.Error()+": "+e.Msg
		}
		return nil, e
	}
	res, err = encode(out)
	if err != nil {
		return nil, newError(CodeActionFailed, id, b.module, "result: %v", err)
	}
	if n := dataSize(res) + len(id); n > b.lim.MaxMessageSize {
		return nil, newError(CodeTooLarge, id, b.module, "a result of %d bytes is larger than the limit of %d bytes", n, b.lim.MaxMessageSize)
	}
	return res, nil
}

// serveCall starts serving a call from another process.
func (b *Bus) serveCall(m *kervipb.Msg) {
	if !b.track() {
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id,
			Error: toWire(b.module, newError(CodeOwnerGone, m.Id, b.module, "module is stopping"))})
		return
	}
	// The cancel func is registered before the next message (perhaps the
	// call's KIND_CANCEL) is handled.
	ctx, cancel := context.WithCancel(b.ctx)
	if m.Deadline != 0 {
		ctx, cancel = context.WithDeadline(b.ctx, time.Unix(0, m.Deadline))
	}
	b.mu.Lock()
	b.serving[m.Seq] = cancel
	b.mu.Unlock()
	go b.serve(ctx, cancel, m)
}

// serve runs a call from another process.
func (b *Bus) serve(ctx context.Context, cancel context.CancelFunc, m *kervipb.Msg) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.serving, m.Seq)
		b.mu.Unlock()
		cancel()
	}()
	reply := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id}
	st := b.lookup(m.Id)
	if st == nil || st.action == nil {
		reply.Error = toWire(b.module, newError(CodeUnknownID, m.Id, b.module, "no action %q in this module", m.Id))
		b.send(reply)
		return
	}
	res, err := b.invoke(ctx, m.Id, st.action, m.Args)
	reply.Result = res
	if err != nil {
		reply.Error = toWire(b.module, err)
	}
	b.send(reply)
}

// cancelCall cancels a call this process serves, or one it holds.
func (b *Bus) cancelCall(m *kervipb.Msg) {
	b.mu.Lock()
	cancel := b.serving[m.Seq]
	var held *kervipb.Msg
	if cancel == nil {
		for i, h := range b.held {
			if h.Seq == m.Seq {
				held = h
				b.held = append(b.held[:i], b.held[i+1:]...)
				break
			}
		}
	}
	b.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if held != nil {
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: held.Seq, Id: held.Id,
			Error: toWire(b.module, newError(CodeCanceled, held.Id, b.module, "%v", context.Canceled))})
	}
}
