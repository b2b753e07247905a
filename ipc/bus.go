package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
)

// welcomeTimeout bounds how long setup waits for the hub's KIND_WELCOME.
const welcomeTimeout = 10 * time.Second

// Bus is one process's connection to the application's hub: the components
// of a module (values, sensors, controllers, actions) register their ids on
// it, publish and subscribe value events by id, and call actions by id,
// wherever in the application their owners live.
//
// Every module process has one Bus, created by kervi and handed to the
// module's setup function. Its methods are safe for concurrent use.
//
// Subscription callbacks and value restore hooks run on the bus's dispatch
// goroutine, one at a time and in the order events arrived; they should
// return quickly. A subscriber that is slow gets the latest content of each
// id rather than a growing backlog (see the package doc). Actions run on
// goroutines of their own.
type Bus struct {
	module string
	log    *slog.Logger
	onErr  func(error)
	lim    Limits

	up   *mailbox // to the hub
	in   *mailbox // to the dispatcher: value events and ordered markers
	sets *mailbox // sets from other processes, applied one at a time in order

	ctx    context.Context // carries the bus; ends when the module stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // goroutines started with Go
	dead   chan struct{}  // closed by Kill
	done   chan struct{}  // closed when a stop has finished
	once   sync.Once      // guards stop
	killed sync.Once

	welcome     chan struct{} // closed by the hub's KIND_WELCOME
	welcomeOnce sync.Once

	sticky sticky // the first error of a component's creation (Fail)

	seq      atomic.Uint64
	phase    atomic.Int32 // phaseSetup, ...; changes under mu
	appReady atomic.Bool
	appUp    chan struct{} // closed when appReady becomes true

	mu       sync.RWMutex
	waiting  bool // the stop waits for goroutines; start no more
	started  bool // the start hooks (OnStart) ran
	ids      map[string]*idState
	owned    int                          // ids this process owns
	followed int                          // ids this process subscribes to at the hub
	pending  map[uint64]chan *kervipb.Msg // calls and sets this process made
	serving  map[uint64]context.CancelFunc
	held     []*kervipb.Msg          // calls and sets that came before the start hooks returned
	restored map[string]*kervipb.Msg // last values from an earlier process
	onStart  []func(context.Context) error
	onApp    []func(context.Context) error // app-start hooks
	onReady  []func(context.Context)
	onStop   []func(context.Context) error

	// Pattern subscriptions and the catalogue (subscribe.go, catalogue.go),
	// under mu.
	pats       []*Subscription
	cat        map[string]*Description // the catalogue, once the process follows it
	catSynced  chan struct{}           // closed once the hub sent the whole catalogue
	lateErrs   []error                 // found under mu, reported later
	latestSubs atomic.Int32            // latest-only subscriptions, to skip their work when there are none

	// The dispatcher's own.
	dcat    map[string]Description // the catalogue, as delivered to followers
	dsynced bool
	catSubs []*Subscription // followers of the catalogue
}

// The phases of a bus, in order.
const (
	phaseSetup    int32 = iota // the module's setup runs
	phaseReady                 // the setup is done; waiting for KIND_START
	phaseStarting              // the app-start hooks run
	phaseStarted               // calls and sets are served
)

// idState is what a process knows of one id.
type idState struct {
	id     string
	subs   atomic.Pointer[[]*subRef]   // subscribers of every event
	latest atomic.Pointer[[]*subRef]   // subscribers of the latest content only
	last   atomic.Pointer[kervipb.Msg] // last event seen or published
	own    *Description                // set when this process owns the id
	value  *valueOwner                 // set when this process owns the id as a value
	action *actionOwner                // set when this process owns the id as an action
	remote bool                        // a SUBSCRIBE for id is in effect at the hub
	// remoteLatest: a SUBSCRIBE for the latest content of id is in effect.
	remoteLatest bool
	// The key and the open slot of the id's latest-only events in the
	// dispatcher's queue (see idState.latestItem).
	lkey  string
	lopen atomic.Pointer[slot]

	// Events of an owned id no other process follows are coalesced: only
	// the latest one queued is sent (see KIND_INTEREST).
	interest atomic.Bool
	open     *slot // the publisher's: the slot later events may join
}

// slot is a place in the queue to the hub that holds the latest of a run
// of coalesced events of one id. Events join it until it is sent, or until
// an event of the id is queued on its own (then a later run needs a new
// slot, after that event, so that order holds).
type slot struct {
	m    atomic.Pointer[kervipb.Msg]
	id   string
	size int32 // what the slot is counted for in the queue's byte bound
}

// sentSlot marks a slot that was taken for sending, or coalesced away.
var sentSlot = &kervipb.Msg{}

// join puts m in the slot, unless the slot was taken or m is larger than
// what the slot is counted for.
func (s *slot) join(m *kervipb.Msg, size int32) bool {
	old := s.m.Load()
	return size <= s.size && old != sentSlot && s.m.CompareAndSwap(old, m)
}

// newBus returns the bus of a module process, which sends to the hub
// through send. It is plumbing for the kervi runtime and for tests of
// components; applications get their buses from kervi.
func newBus(module string, send plumb.SendFunc, opts plumb.BusOptions) *Bus {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Bus{
		module:  module,
		log:     log.With("module", module),
		onErr:   opts.OnError,
		lim:     limitsOf(opts.Limits).WithDefaults(),
		dead:    make(chan struct{}),
		done:    make(chan struct{}),
		ids:     make(map[string]*idState),
		pending: make(map[uint64]chan *kervipb.Msg),
		serving: make(map[uint64]context.CancelFunc),

		restored: make(map[string]*kervipb.Msg),
		welcome:  make(chan struct{}),
		appUp:    make(chan struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(NewContext(context.Background(), b))
	box := b.lim.box()
	events := opts.SendEvents
	if events == nil {
		events = send
	}
	b.up = newMailbox(sendItems(send), sendItems(events), box,
		b.episodeReporter("the hub is not taking this module's value events fast enough"))
	b.in = newMailbox(b.dispatch, nil, box, b.episodeReporter("subscribers in this module are not keeping up with their value events"))
	b.sets = newMailbox(func(items []item) error {
		for _, it := range items {
			b.serveSet(it.m)
		}
		return nil
	}, nil, box, nil)
	return b
}

// sendItems returns a lane's delivery through send: the items' messages,
// the latest content of a coalesced slot taken as it is sent.
func sendItems(send plumb.SendFunc) func([]item) error {
	var batch []*kervipb.Msg // only the lane's goroutine uses it
	return func(items []item) error {
		batch = batch[:0]
		for _, it := range items {
			m := it.m
			if it.slot != nil {
				m = it.slot.m.Swap(sentSlot)
			}
			batch = append(batch, m)
		}
		err := send(batch)
		clear(batch)
		return err
	}
}

// episodeReporter logs the episodes of coalescing of one of the bus's
// queues: once when one starts, once when it ends.
func (b *Bus) episodeReporter(what string) func(episode) {
	return func(ep episode) {
		if ep.start {
			b.log.Warn(what+"; coalescing them to the latest of each id", "coalesced_so_far", ep.total)
			return
		}
		b.log.Info("caught up with value events", "coalesced", ep.coalesced, "after", time.Since(ep.began).Round(time.Millisecond))
	}
}

// Module returns the name of the module this bus belongs to.
func (b *Bus) Module() string { return b.module }

// Logger returns the module's logger.
func (b *Bus) Logger() *slog.Logger { return b.log }

// Limits returns the limits the bus applies.
func (b *Bus) Limits() Limits { return b.lim }

// Context returns a context that carries the bus and ends when the module
// stops. Goroutines of components should stop when it ends.
func (b *Bus) Context() context.Context { return b.ctx }

// AppReady reports whether the application runs: every module is ready and
// has started; until then controllers receive no input changes.
func (b *Bus) AppReady() bool { return b.appReady.Load() }

// Coalesced returns how many value events this process's queues have
// coalesced so far, because the hub or a subscriber of this process was
// slow.
func (b *Bus) Coalesced() uint64 { return b.up.coalesced() + b.in.coalesced() }

// ReportError passes an error that has no caller to return to to the
// bus's error handler (by default, the log). A nil error is ignored.
func (b *Bus) ReportError(err error) {
	if err == nil {
		return
	}
	if b.onErr != nil {
		b.onErr(err)
		return
	}
	b.log.Warn(err.Error())
}

// OnStart registers fn to run when the module's setup has returned, before
// the module reports ready. A hook that fails fails the module's start.
// Registered once the module has started, fn runs at once, and its error
// goes to the error handler.
func (b *Bus) OnStart(fn func(ctx context.Context) error) {
	b.mu.Lock()
	started := b.started
	if !started {
		b.onStart = append(b.onStart, fn)
	}
	b.mu.Unlock()
	if started {
		if err := fn(b.ctx); err != nil {
			b.ReportError(fmt.Errorf("start hook: %w", err))
		}
	}
}

// OnAppStart registers fn to run when every module of the application is
// ready, before the application runs: controllers' Start hooks. The hooks
// of a module run side by side; calls and sets from other processes wait
// until they all returned, and the application's app-main hook and
// OnAppReady callbacks run after the hooks of every module. An error is
// logged. Registered later, fn runs at once on its own goroutine.
func (b *Bus) OnAppStart(fn func(ctx context.Context) error) {
	b.mu.Lock()
	late := b.phase.Load() >= phaseStarting
	if !late {
		b.onApp = append(b.onApp, fn)
	}
	b.mu.Unlock()
	if late {
		b.Go(func(ctx context.Context) { b.runAppStart(ctx, fn) })
	}
}

// OnAppReady registers fn to run once the application runs: every module
// is ready and every module's app-start hooks returned (or at once, on its
// own goroutine, if that already happened).
func (b *Bus) OnAppReady(fn func(ctx context.Context)) {
	b.mu.Lock()
	ready := b.appReady.Load()
	if !ready {
		b.onReady = append(b.onReady, fn)
	}
	b.mu.Unlock()
	if ready {
		b.Go(fn)
	}
}

// OnStop registers fn to run when the module stops. Stop hooks run in the
// reverse order of registration, before the bus's context ends, and share
// the stop deadline.
func (b *Bus) OnStop(fn func(ctx context.Context) error) {
	b.mu.Lock()
	b.onStop = append(b.onStop, fn)
	b.mu.Unlock()
}

// Go runs fn on a goroutine owned by the bus. fn's context ends when the
// module stops, and the stop waits for fn to return.
func (b *Bus) Go(fn func(ctx context.Context)) {
	if !b.track() {
		return
	}
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

// track counts a goroutine the stop must wait for; it reports false once
// the stop has begun waiting.
func (b *Bus) track() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiting {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *Bus) stateLocked(id string) *idState {
	st := b.ids[id]
	if st == nil {
		st = &idState{id: id}
		b.ids[id] = st
	}
	return st
}

func (b *Bus) lookup(id string) *idState {
	b.mu.RLock()
	st := b.ids[id]
	b.mu.RUnlock()
	return st
}

// send queues a message for the hub; it reports false once the bus
// stopped. Messages that must stay in order with value events (the
// announcement of an id, the markers of the life cycle) go with them;
// everything else goes ahead of queued events.
func (b *Bus) send(m *kervipb.Msg) bool { return b.up.push(m, true) }

// claimLocked checks that this process may claim one more id.
func (b *Bus) claimLocked(id string) error {
	if b.owned >= b.lim.MaxIDs {
		return fmt.Errorf("kervi: %s: module %q already owns %d ids, the limit", quoteID(id), b.module, b.lim.MaxIDs)
	}
	return nil
}

// ---- values ----

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

// wireErr makes err look as it would after crossing processes.
func (b *Bus) wireErr(id string, err error) error {
	if err == nil {
		return nil
	}
	return fromWire(id, toWire(b.module, err))
}

// ---- actions ----

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

// ---- plumbing for the runtime ----

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
			b.welcomeOnce.Do(func() { close(b.welcome) })
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

// startApp runs the app-start hooks side by side, then serves the calls
// and sets that waited for them, and tells the hub the module started.
func (b *Bus) startApp(ctx context.Context) {
	b.mu.Lock()
	if b.phase.Load() >= phaseStarting {
		b.mu.Unlock()
		return
	}
	b.phase.Store(phaseStarting)
	hooks := b.onApp
	b.onApp = nil
	b.mu.Unlock()
	var wg sync.WaitGroup
	for _, fn := range hooks {
		wg.Go(func() { b.runAppStart(ctx, fn) })
	}
	wg.Wait()
	b.mu.Lock()
	b.phase.Store(phaseStarted)
	held := b.held
	b.held = nil
	b.mu.Unlock()
	for _, m := range held {
		b.admit(m)
	}
	b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STARTED})
}

// runAppStart runs an app-start hook, logging its error or panic.
func (b *Bus) runAppStart(ctx context.Context, fn func(context.Context) error) {
	defer b.recoverCallback("app-start hook", "")
	if err := fn(ctx); err != nil {
		b.log.Error("app-start hook failed", "error", err)
	}
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

// runSetup runs a module's setup function with the bus, then the start
// hooks, and tells the hub the module is ready, or that its setup failed
// (with the setup's error as it is). A setup that returns nil fails with
// the first error recorded with Fail, if any. A panic in setup is an
// error, not a crash.
func (b *Bus) runSetup(setup func(ctx context.Context, b *Bus) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("setup panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("setup panicked: %v", r)
		}
		if err != nil {
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_SETUP_FAILED,
				Error: &kervipb.Error{Code: kervipb.Code_CODE_SETUP_FAILED, Message: validText(err.Error()), Module: b.module}})
		} else {
			b.mu.Lock()
			b.phase.Store(phaseReady)
			b.mu.Unlock()
			b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_READY})
		}
	}()
	select { // the restores of a restarted module come first
	case <-b.welcome:
	case <-b.dead:
		return ErrClosed
	case <-time.After(welcomeTimeout):
		b.log.Warn("no welcome from the hub; setting up without restored values")
	}
	if setup != nil {
		if err := setup(b.ctx, b); err != nil {
			return err
		}
	}
	if err := b.Err(); err != nil { // a component's creation failed (Fail)
		return err
	}
	// Hooks may register more hooks; run until none is left.
	for {
		b.mu.Lock()
		hooks := b.onStart
		b.onStart = nil
		if len(hooks) == 0 {
			b.started = true
		}
		b.mu.Unlock()
		if len(hooks) == 0 {
			return b.Err()
		}
		for _, fn := range hooks {
			if err := fn(b.ctx); err != nil {
				return fmt.Errorf("start hook: %w", err)
			}
		}
	}
}

// stop runs the stop hooks, ends the bus's context, waits for its
// goroutines and tells the hub the module stopped.
func (b *Bus) stop(deadline time.Time) {
	b.once.Do(func() {
		ctx, cancel := context.WithDeadline(NewContext(context.Background(), b), deadline)
		defer cancel()
		b.mu.Lock()
		hooks := b.onStop
		b.mu.Unlock()
		for i := len(hooks) - 1; i >= 0; i-- {
			func() {
				defer func() {
					if r := recover(); r != nil {
						b.log.Error("stop hook panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
					}
				}()
				if err := hooks[i](ctx); err != nil {
					b.log.Warn("stop hook failed", "error", err)
				}
			}()
		}
		b.cancel()
		b.mu.Lock()
		b.waiting = true
		b.mu.Unlock()
		waited := make(chan struct{})
		go func() { b.wg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
			b.log.Warn("stop deadline passed with goroutines still running")
		}
		b.sets.kill(ErrClosed)
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOPPED})
		if err := b.up.flush(ctx.Done()); err != nil {
			b.log.Warn("could not flush outgoing messages", "error", err)
		}
		close(b.done)
	})
}

// stopWait stops the module as a KIND_STOP from the hub would, and waits for
// it. The runtime uses it when a module must stop on its own, as when its
// parent died.
func (b *Bus) stopWait(deadline time.Time) {
	b.stop(deadline)
	<-b.done
}

// Done is closed when the module has stopped and told the hub so.
func (b *Bus) Done() <-chan struct{} { return b.done }

// kill ends the bus at once: the hub is gone. Pending calls fail with
// ErrOwnerGone, the context ends, queued messages are dropped.
func (b *Bus) kill() {
	b.killed.Do(func() {
		close(b.dead)
		b.cancel()
		b.up.kill(ErrClosed)
		b.in.kill(ErrClosed)
		b.sets.kill(ErrClosed)
	})
}

// String identifies the bus in logs.
func (b *Bus) String() string { return "bus(" + strconv.Quote(b.module) + ")" }

// Flush waits until every message queued for the hub was handed to it.
func (b *Bus) Flush(ctx context.Context) error {
	if err := b.up.flush(ctx.Done()); err != nil {
		if errors.Is(err, errFlushAborted) {
			return ctx.Err()
		}
		return err
	}
	return nil
}
