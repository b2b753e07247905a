package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/kervi/kervi-go/proto/kervipb"
)

// Hub routes messages between the buses of an application's processes by
// id. It keeps the directory of which module owns which id, the
// subscriptions of every process, the last event of every id, and the
// calls in flight. Events go only to processes that subscribed to their id;
// a process's own events are not sent back to it.
//
// The application's parent process runs the hub; each module process is
// attached to it as a Port. Hub is plumbing for the kervi runtime.
type Hub struct {
	log    *slog.Logger
	notify func(Notice)

	mu    sync.Mutex
	ports map[string]*Port
	ids   map[string]*entry
	calls map[uint64]*hubCall
	seq   uint64
}

// entry is what the hub knows of one id.
type entry struct {
	id    string
	owner *owner // nil until a module announces the id
	subs  []*Port
	last  *kervipb.Msg
}

// entryLocked returns the entry of id, making it if need be.
func (h *Hub) entryLocked(id string) *entry {
	e := h.ids[id]
	if e == nil {
		e = &entry{id: id}
		h.ids[id] = e
	}
	return e
}

type owner struct {
	module string
	port   *Port // nil while the module is not running
	comp   *kervipb.Component
}

type hubCall struct {
	from *Port
	seq  uint64 // the caller's sequence number
	to   *Port
	id   string
}

// NoticeKind says what a Notice reports.
type NoticeKind int

// The notices a hub reports.
const (
	// NoticeReady: the module's setup is done.
	NoticeReady NoticeKind = iota + 1
	// NoticeSetupFailed: the module's setup failed; Err says why.
	NoticeSetupFailed
	// NoticeStopped: the module stopped after a KIND_STOP.
	NoticeStopped
	// NoticeDuplicate: Module announced ID, which Other already owns.
	NoticeDuplicate
)

// Notice tells the runtime about a module's life.
type Notice struct {
	Kind   NoticeKind
	Module string
	ID     string
	Other  string
	Err    error
}

// HubOptions configures NewHub.
type HubOptions struct {
	// Logger receives the hub's logs. Default: slog.Default().
	Logger *slog.Logger
	// Notify receives notices about modules. It runs on the goroutine that
	// delivered the module's messages and must not block.
	Notify func(Notice)
}

// NewHub returns an empty hub.
func NewHub(opts HubOptions) *Hub {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	notify := opts.Notify
	if notify == nil {
		notify = func(Notice) {}
	}
	return &Hub{
		log:    log,
		notify: notify,
		ports:  make(map[string]*Port),
		ids:    make(map[string]*entry),
		calls:  make(map[uint64]*hubCall),
	}
}

// Port is a module process attached to the hub.
type Port struct {
	hub    *Hub
	module string
	out    *queue[*kervipb.Msg]
	subs   map[string]int    // under hub.mu: id → subscription count
	calls  map[uint64]uint64 // under hub.mu: caller seq → hub seq
	closed bool              // under hub.mu
}

// Attach connects a module to the hub; send delivers the hub's messages to
// the module's bus (over a stream, or directly in the same process) and
// must not keep the slice. A module has at most one port at a time.
func (h *Hub) Attach(module string, send SendFunc) (*Port, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := h.ports[module]; old != nil && !old.closed {
		return nil, fmt.Errorf("kervi: module %q is already attached to the hub", module)
	}
	p := &Port{
		hub:    h,
		module: module,
		subs:   make(map[string]int),
		calls:  make(map[uint64]uint64),
	}
	p.out = newQueue(func(ms []*kervipb.Msg) error { return send(ms) }, maxBatch, highWater)
	h.ports[module] = p
	// A module back from a crash gets the last values of its ids first.
	for _, e := range h.ids {
		if o := e.owner; o != nil && o.module == module && e.last != nil && o.comp.GetKind() == "value" {
			r := shallowCopy(e.last)
			r.Kind = kervipb.Kind_KIND_RESTORE
			p.out.enqueue(r)
		}
	}
	p.out.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_WELCOME})
	return p, nil
}

// Module returns the name of the port's module.
func (p *Port) Module() string { return p.module }

// Send queues a message for the module, such as KIND_START or KIND_STOP.
// It reports false if the port is detached.
func (p *Port) Send(m *kervipb.Msg) bool { return p.out.push(m) }

// Receive routes a batch of messages from the module. It returns once
// they are routed; if a receiving process's queue is over its high-water
// mark it first waits for room, which slows the sender down to the pace of
// its slowest subscriber instead of dropping events.
func (p *Port) Receive(msgs []*kervipb.Msg) {
	h := p.hub
	var notices []Notice
	r := &router{}
	h.mu.Lock()
	if p.closed {
		h.mu.Unlock()
		return
	}
	var e *entry // of the last message: events of one id come in runs
	for _, m := range msgs {
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT, kervipb.Kind_KIND_SUBSCRIBE, kervipb.Kind_KIND_UNSUBSCRIBE,
			kervipb.Kind_KIND_ANNOUNCE, kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET:
			if e == nil || e.id != m.Id {
				e = h.entryLocked(m.Id)
			}
		}
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT:
			e.last = m
			for _, q := range e.subs {
				if q != p {
					r.send(q, m)
				}
			}
		case kervipb.Kind_KIND_SUBSCRIBE:
			p.subs[m.Id]++
			if p.subs[m.Id] == 1 {
				was := e.interested()
				e.subs = append(e.subs, p)
				e.tellInterest(r, was)
				if e.last != nil && (e.owner == nil || e.owner.port != p) {
					r.send(p, e.last)
				}
			}
		case kervipb.Kind_KIND_UNSUBSCRIBE:
			if p.subs[m.Id] > 0 {
				p.subs[m.Id]--
				if p.subs[m.Id] == 0 {
					delete(p.subs, m.Id)
					e.unsubscribe(r, p)
				}
			}
		case kervipb.Kind_KIND_ANNOUNCE:
			if o := e.owner; o != nil && o.module != p.module {
				err := newError(CodeDuplicateID, m.Id, "", "claimed by modules %q and %q", o.module, p.module)
				r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_REJECTED, Id: m.Id, Error: toWire("", err)})
				notices = append(notices, Notice{Kind: NoticeDuplicate, Module: p.module, ID: m.Id, Other: o.module, Err: err})
				continue
			}
			e.owner = &owner{module: p.module, port: p, comp: m.Component}
			if e.interested() {
				r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_INTEREST, Id: m.Id, Flag: true})
			}
		case kervipb.Kind_KIND_READY:
			notices = append(notices, Notice{Kind: NoticeReady, Module: p.module})
		case kervipb.Kind_KIND_SETUP_FAILED:
			notices = append(notices, Notice{Kind: NoticeSetupFailed, Module: p.module,
				Err: errors.New(m.GetError().GetMessage())})
		case kervipb.Kind_KIND_STOPPED:
			notices = append(notices, Notice{Kind: NoticeStopped, Module: p.module})
		case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET:
			h.routeCallLocked(r, p, e, m)
		case kervipb.Kind_KIND_CANCEL:
			if hs, ok := p.calls[m.Seq]; ok {
				if c := h.calls[hs]; c != nil {
					r.send(c.to, &kervipb.Msg{Kind: kervipb.Kind_KIND_CANCEL, Seq: hs, Id: c.id})
				}
			}
		case kervipb.Kind_KIND_RESULT:
			c := h.calls[m.Seq]
			if c == nil || c.to != p {
				continue
			}
			delete(h.calls, m.Seq)
			delete(c.from.calls, c.seq)
			res := shallowCopy(m)
			res.Seq = c.seq
			r.send(c.from, res)
		default:
			h.log.Warn("hub: unexpected message", "module", p.module, "kind", m.Kind.String(), "id", m.Id)
		}
	}
	r.queue()
	h.mu.Unlock()
	for _, n := range notices {
		h.notify(n)
	}
	r.wait()
}

// router collects what a routing step sends to each port, and queues it
// in one operation per port at the end of the step, still under the hub's
// lock, so that the order of the hub's decisions is the order of delivery.
type router struct {
	touched []*Port
	msgs    [][]*kervipb.Msg // parallel to touched
}

// send queues m for q.
func (r *router) send(q *Port, m *kervipb.Msg) {
	for i, t := range r.touched {
		if t == q {
			r.msgs[i] = append(r.msgs[i], m)
			return
		}
	}
	r.touched = append(r.touched, q)
	r.msgs = append(r.msgs, []*kervipb.Msg{m})
}

// queue queues what was routed; the hub's lock is held.
func (r *router) queue() {
	for i, q := range r.touched {
		q.out.pushAll(r.msgs[i])
	}
}

// wait, called once the hub's lock is released, waits while a receiving
// process's queue is over its high-water mark: that slows the sender down
// to the pace of its slowest subscriber instead of dropping events.
func (r *router) wait() {
	for _, q := range r.touched {
		if q.out.full() {
			_ = q.out.waitRoom(context.Background())
		}
	}
}

// routeCallLocked forwards a call or set to the owner of its id, or
// answers it with an error.
func (h *Hub) routeCallLocked(r *router, p *Port, e *entry, m *kervipb.Msg) {
	o := e.owner
	var err *Error
	wantKind := "action"
	if m.Kind == kervipb.Kind_KIND_SET {
		wantKind = "value"
	}
	switch {
	case o == nil:
		err = newError(CodeUnknownID, m.Id, "", "no module owns %q", m.Id)
	case o.comp.GetKind() != wantKind:
		err = newError(CodeUnknownID, m.Id, o.module, "%q is a %s, not a %s", m.Id, o.comp.GetKind(), wantKind)
	case o.port == nil:
		err = newError(CodeOwnerGone, m.Id, o.module, "module %q is not running", o.module)
	}
	if err != nil {
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: toWire("", err)})
		return
	}
	h.seq++
	hs := h.seq
	h.calls[hs] = &hubCall{from: p, seq: m.Seq, to: o.port, id: m.Id}
	p.calls[m.Seq] = hs
	f := shallowCopy(m)
	f.Seq = hs
	f.Module = p.module
	r.send(o.port, f)
}

// interested reports whether a process other than the owner of the id
// subscribes to it. The hub's lock is held.
func (e *entry) interested() bool {
	var ownerPort *Port
	if e.owner != nil {
		ownerPort = e.owner.port
	}
	for _, q := range e.subs {
		if q != ownerPort {
			return true
		}
	}
	return false
}

// tellInterest tells the owner if the interest in the id changed from was.
func (e *entry) tellInterest(r *router, was bool) {
	now := e.interested()
	if o := e.owner; o != nil && o.port != nil && now != was {
		r.send(o.port, &kervipb.Msg{Kind: kervipb.Kind_KIND_INTEREST, Id: e.id, Flag: now})
	}
}

// unsubscribe removes p's subscription.
func (e *entry) unsubscribe(r *router, p *Port) {
	was := e.interested()
	for i, q := range e.subs {
		if q == p {
			e.subs = append(e.subs[:i:i], e.subs[i+1:]...)
			break
		}
	}
	e.tellInterest(r, was)
}

// Detach disconnects a module whose process ended: its subscriptions go,
// the ids it owns stay its own but have no running owner (calls to them
// fail with ErrOwnerGone until it is back), calls it was serving fail, and
// calls it made are cancelled.
func (p *Port) Detach() {
	h := p.hub
	r := &router{}
	h.mu.Lock()
	if p.closed {
		h.mu.Unlock()
		return
	}
	p.closed = true
	if h.ports[p.module] == p {
		delete(h.ports, p.module)
	}
	for id := range p.subs {
		h.ids[id].unsubscribe(r, p)
	}
	for _, e := range h.ids {
		if e.owner != nil && e.owner.port == p {
			e.owner.port = nil
		}
	}
	for hs, c := range h.calls {
		switch {
		case c.to == p:
			err := newError(CodeOwnerGone, c.id, p.module, "module %q stopped during the call", p.module)
			r.send(c.from, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: c.seq, Id: c.id, Error: toWire(p.module, err)})
			delete(c.from.calls, c.seq)
			delete(h.calls, hs)
		case c.from == p:
			r.send(c.to, &kervipb.Msg{Kind: kervipb.Kind_KIND_CANCEL, Seq: hs, Id: c.id})
			delete(h.calls, hs)
		}
	}
	r.queue()
	h.mu.Unlock()
	p.out.kill(ErrOwnerGone)
}

// Flush waits until the messages queued for the module were handed to it.
func (p *Port) Flush(ctx context.Context) error { return p.out.flush(ctx) }

// ComponentInfo describes an announced id, for catalogues such as the
// dashboard's.
type ComponentInfo struct {
	ID      string
	Module  string
	Kind    string // "value" or "action"
	Name    string
	Type    Type
	Input   bool
	Unit    string
	Min     *float64
	Max     *float64
	Options []string
	Parent  string
	Running bool // the owning module's process is attached
}

// Components returns every announced id, sorted by id.
func (h *Hub) Components() []ComponentInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ComponentInfo, 0, len(h.ids))
	for id, e := range h.ids {
		o := e.owner
		if o == nil {
			continue
		}
		c := o.comp
		out = append(out, ComponentInfo{
			ID: id, Module: o.module, Kind: c.GetKind(), Name: c.GetName(), Type: Type(c.GetType()),
			Input: c.GetInput(), Unit: c.GetUnit(), Min: c.Min, Max: c.Max, Options: c.GetOptions(),
			Parent: c.GetParent(), Running: o.port != nil,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Owner returns the module that owns id.
func (h *Hub) Owner(id string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.ids[id]; e != nil && e.owner != nil {
		return e.owner.module, true
	}
	return "", false
}

// Last returns the last event of id the hub routed.
func (h *Hub) Last(id string) (Event, bool) {
	h.mu.Lock()
	var m *kervipb.Msg
	if e := h.ids[id]; e != nil {
		m = e.last
	}
	h.mu.Unlock()
	if m == nil {
		return Event{}, false
	}
	return eventFromMsg(m), true
}

// shallowCopy copies a message's fields, sharing its nested messages, which
// nobody modifies once sent.
func shallowCopy(m *kervipb.Msg) *kervipb.Msg {
	return &kervipb.Msg{
		Kind: m.Kind, Id: m.Id, Seq: m.Seq, Type: m.Type, Number: m.Number, Flag: m.Flag,
		Text: m.Text, Instant: m.Instant, Ts: m.Ts, Args: m.Args, Result: m.Result,
		Error: m.Error, Deadline: m.Deadline, Component: m.Component, Module: m.Module,
	}
}

// Connect attaches a bus to the hub in the same process, as in-process
// mode and tests do: messages pass by pointer, with no encoding.
func (h *Hub) Connect(module string, opts BusOptions) (*Bus, *Port, error) {
	var port *Port
	var ready = make(chan struct{})
	b := NewBus(module, func(ms []*kervipb.Msg) error {
		<-ready
		port.Receive(ms)
		return nil
	}, opts)
	port, err := h.Attach(module, func(ms []*kervipb.Msg) error {
		b.Receive(ms)
		return nil
	})
	if err != nil {
		b.Kill()
		return nil, nil, err
	}
	close(ready)
	return b, port, nil
}

// StopTimeout is how long a module gets to stop when no deadline is given.
const StopTimeout = 10 * time.Second
