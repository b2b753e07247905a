package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
)

// hubCore routes messages between the buses of an application's processes by
// id. It keeps the directory of which module owns which id, the
// subscriptions of every process, the last event of every id, and the
// calls in flight. Events go only to processes that subscribed to their id;
// a process's own events are not sent back to it.
//
// What the hub routes to a process waits in that process's mailbox: calls,
// results and control go ahead of value events; value events of a process
// that keeps reading slow their sender to its pace, and are coalesced to
// the latest of each id if the process stops reading (Limits.StallTimeout)
// or falls further behind than the queue bound; calls beyond
// Limits.MaxCalls are refused with ErrBusy. It accepts a value event only
// from the module that owns the id, and checks every message where it
// enters: ids, types, text, the state of the modules a call involves.
//
// The application's parent process runs the hub; each module process is
// attached to it as a Port. hubCore is plumbing for the kervi runtime.
type hubCore struct {
	log    *slog.Logger
	notify func(plumb.Notice)
	lim    Limits
	node   string // this machine's node name, in an application of several nodes

	mu       sync.Mutex
	ports    map[string]*hubPort
	ids      map[string]*entry
	calls    map[uint64]*hubCall
	seq      uint64
	starting bool // Start was called: modules that become ready start at once
	appReady bool // SetAppReady was called

	followers []*hubPort // the ports that follow the catalogue (catalogue.go)
}

// entry is what the hub knows of one id. An entry exists while a module
// owns the id or a process subscribes to it.
type entry struct {
	id     string
	owner  *owner     // nil until a module announces the id
	subs   []*hubPort // ports that take every event
	latest []latestSub
	last   *kervipb.Msg
}

// latestSub is a port that takes the latest content of an id only: its
// events wait for it in a slot, which each later event joins until it is
// sent.
type latestSub struct {
	port *hubPort
	slot *slot
}

type owner struct {
	module string
	node   string             // the owner's node; the hub's own or, for an imported id, another
	port   *hubPort           // nil while the module (or, imported, its node) is not running
	comp   *kervipb.Component // as followers of the catalogue get it
	desc   Description
}

type hubCall struct {
	from *hubPort
	seq  uint64 // the caller's sequence number
	to   *hubPort
	id   string
	size int64
}

// newHub returns an empty hub.
func newHub(opts plumb.HubOptions) *hubCore {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	notify := opts.Notify
	if notify == nil {
		notify = func(plumb.Notice) {}
	}
	return &hubCore{
		log:    log,
		notify: notify,
		lim:    limitsOf(opts.Limits).WithDefaults(),
		node:   opts.Node,
		ports:  make(map[string]*hubPort),
		ids:    make(map[string]*entry),
		calls:  make(map[uint64]*hubCall),
	}
}

// hubPort is a module process attached to the hub.
type hubPort struct {
	hub    *hubCore
	module string
	out    *mailbox
	// proxy marks a port of the bridge to other nodes (AttachNode): it
	// owns the ids of node, on behalf of that node's modules, and calls
	// and subscribes on behalf of other nodes' modules.
	proxy bool
	node  string

	// Under hub.mu:
	subs      map[string]int    // id → subscription count
	latest    map[string]int    // id → count of the subscriptions that want the latest content only
	follows   bool              // the module follows the catalogue
	calls     map[uint64]uint64 // caller seq → hub seq
	owned     int               // ids the module owns through this port
	inflight  int               // calls and sets in flight to this port
	inBytes   int64             // their size
	phase     int32             // phaseSetup, ...
	closed    bool
	refusals  map[string]bool // ids whose refused events were logged
	refused   uint64
	started   chan struct{} // closed on KIND_STARTED
	startOnce sync.Once

	lastPong     atomic.Int64  // unix nanoseconds of the last KIND_PONG (or attach)
	remoteCoal   atomic.Uint64 // events the module's own queues coalesced
	failed       chan struct{} // closed when the stream to the module failed
	failOnce     sync.Once
	failErr      error
	pingSeq      atomic.Uint64
	lastCoalesce atomic.Int64 // unix nanoseconds: start of the current episode, or 0
}

// Attach connects a module to the hub; send delivers the hub's messages to
// the module's bus (over a stream, or directly in the same process), and
// events, if not nil, delivers value events and the messages that stay in
// order with them (on a stream of their own). They must not keep the
// slice. A module has at most one port at a time.
func (h *hubCore) Attach(module string, send, events plumb.SendFunc) (*hubPort, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, err := h.attachLocked(module, send, events)
	if err != nil {
		return nil, err
	}
	// A module back from a crash gets the last values of its ids first.
	for _, e := range h.ids {
		if o := e.owner; o != nil && o.module == module && o.node == h.node && e.last != nil && o.desc.Kind == KindValue {
			r := shallowCopy(e.last)
			r.Kind = kervipb.Kind_KIND_RESTORE
			p.out.push(r, false)
		}
	}
	// The welcome names the node the module runs on (none on one machine).
	p.out.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_WELCOME, Text: h.node}, true)
	return p, nil
}

// AttachNode connects the bridge to other nodes to the hub, as a port of
// its own for each remote node: it announces (KIND_ANNOUNCE, the
// component naming its module) the ids node owns, publishes their events,
// retires them (KIND_RETIRE), and receives the calls, sets and reads of
// them and KIND_INTEREST when the hub's processes follow them, latest-only
// subscriptions included. With node "", the port is the bridge's own: it
// subscribes to and calls local ids on behalf of remote modules (a call
// names its module in Module). A proxy port is started at once: it gets
// no KIND_WELCOME, KIND_RESTORE or life-cycle messages.
func (h *hubCore) AttachNode(node string, send plumb.SendFunc) (*hubPort, error) {
	// Node names are [A-Za-z0-9_-]: the bridge's own port's name is none
	// of "@"+node (a node may be called "bridge").
	name := "@" + node
	if node == "" {
		name = "@(bridge)"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p, err := h.attachLocked(name, send, nil)
	if err != nil {
		return nil, err
	}
	p.proxy, p.node, p.phase = true, node, phaseStarted
	p.startOnce.Do(func() { close(p.started) })
	return p, nil
}

// attachLocked makes and registers a port.
func (h *hubCore) attachLocked(module string, send, events plumb.SendFunc) (*hubPort, error) {
	if old := h.ports[module]; old != nil && !old.closed {
		return nil, fmt.Errorf("kervi: module %q is already attached to the hub", module)
	}
	p := &hubPort{
		hub:     h,
		module:  module,
		subs:    make(map[string]int),
		latest:  make(map[string]int),
		calls:   make(map[uint64]uint64),
		started: make(chan struct{}),
		failed:  make(chan struct{}),
	}
	p.lastPong.Store(time.Now().UnixNano())
	if events == nil {
		events = send
	}
	deliver := func(send plumb.SendFunc) func([]item) error {
		return func(items []item) error {
			ms := make([]*kervipb.Msg, 0, len(items))
			for _, it := range items {
				m := it.m
				if it.slot != nil { // the latest content, taken as it is sent
					if m = it.slot.m.Swap(sentSlot); m == sentSlot {
						continue
					}
				}
				ms = append(ms, m)
			}
			if len(ms) == 0 {
				return nil
			}
			err := send(ms)
			if err != nil {
				p.Fail(err)
			}
			return err
		}
	}
	p.out = newMailbox(deliver(send), deliver(events), h.lim.box(), p.episode)
	h.ports[module] = p
	return p, nil
}

// episode reports the hub's coalescing of events for the port's module.
func (p *hubPort) episode(ep episode) {
	if ep.start {
		p.lastCoalesce.Store(ep.began.UnixNano())
		p.hub.notify(plumb.Notice{Kind: plumb.NoticeBehind, Module: p.module, Since: ep.began})
		return
	}
	p.lastCoalesce.Store(0)
	p.hub.notify(plumb.Notice{Kind: plumb.NoticeCaughtUp, Module: p.module, Coalesced: ep.coalesced, Since: ep.began})
}

// Module returns the name of the port's module.
func (p *hubPort) Module() string { return p.module }

// Send queues a message for the module, such as KIND_STOP. It reports
// false if the port is detached.
func (p *hubPort) Send(m *kervipb.Msg) bool { return p.out.push(m, true) }

// Ping sends the module a heartbeat, which its process answers below user
// code; LastPong tells when it last did.
func (p *hubPort) Ping() bool {
	return p.out.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_PING, Seq: p.pingSeq.Add(1)}, true)
}

// LastPong returns when the module last answered a heartbeat (or when it
// attached, if it never did).
func (p *hubPort) LastPong() time.Time { return time.Unix(0, p.lastPong.Load()) }

// Coalesced returns how many value events were coalesced for the module:
// by the hub, because the module's process was slow to read them, and by
// the process itself, as it last reported.
func (p *hubPort) Coalesced() uint64 { return p.out.coalesced() + p.remoteCoal.Load() }

// Behind reports whether the hub is coalescing the module's events now,
// and since when.
func (p *hubPort) Behind() (time.Time, bool) {
	if t := p.lastCoalesce.Load(); t != 0 {
		return time.Unix(0, t), true
	}
	return time.Time{}, false
}

// Started is closed when the module's app-start hooks returned.
func (p *hubPort) Started() <-chan struct{} { return p.started }

// Fail records that the stream to the module failed, by the transport or
// because the module stopped reading.
func (p *hubPort) Fail(err error) {
	p.failOnce.Do(func() {
		p.failErr = err
		close(p.failed)
	})
}

// Failed is closed when the stream to the module failed; Err says why.
func (p *hubPort) Failed() <-chan struct{} { return p.failed }

// Err returns why the stream failed, once Failed is closed.
func (p *hubPort) Err() error { return p.failErr }

// Start tells every module that is ready to run its app-start hooks; a
// module that becomes ready later is told at once.
func (h *hubCore) Start() {
	r := &router{}
	h.mu.Lock()
	h.starting = true
	for _, p := range h.ports {
		if p.phase == phaseReady {
			p.phase = phaseStarting
			r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_START})
		}
	}
	r.queue()
	h.mu.Unlock()
}

// SetAppReady tells every module that has started that the application
// runs; a module that starts later is told as soon as it has.
func (h *hubCore) SetAppReady() {
	r := &router{}
	h.mu.Lock()
	h.appReady = true
	for _, p := range h.ports {
		if p.phase == phaseStarted {
			r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_APP_READY})
		}
	}
	r.queue()
	h.mu.Unlock()
}

// Receive routes a batch of messages from the module. It never waits for
// another process.
func (p *hubPort) Receive(msgs []*kervipb.Msg) {
	h := p.hub
	var notices []plumb.Notice
	r := &router{}
	h.mu.Lock()
	if p.closed {
		h.mu.Unlock()
		return
	}
	var e *entry // of the last event: events of one id come in runs
	for _, m := range msgs {
		if m.Error != nil && !carriesError(m.Kind) {
			h.malformedLocked(r, p, m)
			continue
		}
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT:
			if e == nil || e.id != m.Id {
				e = h.ids[m.Id]
			}
			if err := p.checkEvent(e, m); err != nil {
				p.refuseLocked(m.Id, err)
				continue
			}
			e.last = m
			for _, q := range e.subs {
				if q != p {
					r.send(q, m)
				}
			}
			for i := range e.latest {
				if ls := &e.latest[i]; ls.port != p {
					r.sendLatest(ls, e.id, m)
				}
			}
		case kervipb.Kind_KIND_SUBSCRIBE:
			if err := ValidateID(m.Id); err != nil {
				h.log.Warn("hub: subscription refused", "module", p.module, "error", err)
				continue
			}
			if p.subs[m.Id] == 0 && len(p.subs) >= h.lim.MaxIDs {
				h.log.Warn("hub: subscription refused", "module", p.module, "id", m.Id, "error", "too many subscriptions")
				continue
			}
			p.subs[m.Id]++
			if m.Latest {
				p.latest[m.Id]++
			}
			e = h.entryLocked(m.Id)
			e.place(r, p)
			if p.subs[m.Id] == 1 && e.last != nil && (e.owner == nil || e.owner.port != p) {
				r.send(p, e.last)
			}
		case kervipb.Kind_KIND_UNSUBSCRIBE:
			if p.subs[m.Id] > 0 && (!m.Latest || p.latest[m.Id] > 0) {
				p.subs[m.Id]--
				if m.Latest {
					if p.latest[m.Id]--; p.latest[m.Id] == 0 {
						delete(p.latest, m.Id)
					}
				}
				if e = h.ids[m.Id]; e == nil {
					if p.subs[m.Id] == 0 {
						delete(p.subs, m.Id)
					}
					continue
				}
				if p.subs[m.Id] == 0 {
					delete(p.subs, m.Id)
					e.unsubscribe(r, p)
					h.forgetLocked(e)
				} else {
					e.place(r, p)
				}
			}
		case kervipb.Kind_KIND_FOLLOW_CATALOGUE:
			h.followLocked(r, p)
		case kervipb.Kind_KIND_RETIRE:
			// A node's port retires the ids it owns, and those its node
			// owned before it went offline (a port of an earlier link):
			// a node back without an id retires it on its new port.
			if ex := h.ids[m.Id]; p.proxy && p.node != "" && ex != nil && ex.owner != nil &&
				(ex.owner.port == p || ex.owner.port == nil && ex.owner.node == p.node) {
				h.retireEntriesLocked(r, []*entry{ex})
			}
			e = nil
		case kervipb.Kind_KIND_ANNOUNCE:
			e = h.announceLocked(r, p, m, &notices)
		case kervipb.Kind_KIND_READY:
			if p.phase == phaseSetup {
				// A restarted module retires what it no longer declares.
				h.retireLocked(r, func(o *owner) bool { return o.module == p.module && o.node == h.node && o.port != p })
				e = nil
				p.phase = phaseReady
				if h.starting {
					p.phase = phaseStarting
					r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_START})
				}
			}
			notices = append(notices, plumb.Notice{Kind: plumb.NoticeReady, Module: p.module})
		case kervipb.Kind_KIND_STARTED:
			p.phase = phaseStarted
			p.startOnce.Do(func() { close(p.started) })
			if h.appReady {
				r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_APP_READY})
			}
			notices = append(notices, plumb.Notice{Kind: plumb.NoticeStarted, Module: p.module})
		case kervipb.Kind_KIND_SETUP_FAILED:
			notices = append(notices, plumb.Notice{Kind: plumb.NoticeSetupFailed, Module: p.module,
				Err: errors.New(validText(m.GetError().GetMessage()))})
		case kervipb.Kind_KIND_STOPPED:
			notices = append(notices, plumb.Notice{Kind: plumb.NoticeStopped, Module: p.module})
		case kervipb.Kind_KIND_PONG:
			p.lastPong.Store(time.Now().UnixNano())
			p.remoteCoal.Store(m.Coalesced)
		case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET:
			h.routeCallLocked(r, p, m)
		case kervipb.Kind_KIND_DESCRIBE:
			h.describeLocked(r, p, m)
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
			h.endCallLocked(m.Seq, c)
			res := shallowCopy(m)
			res.Seq = c.seq
			r.send(c.from, res)
		default:
			h.log.Warn("hub: unexpected message", "module", p.module, "kind", m.Kind.String(), "id", validText(m.Id))
		}
	}
	r.queue()
	for _, n := range notices {
		h.notify(n)
	}
	h.mu.Unlock()
	r.wait()
}

// where names the owner for people: its module, and its node if it is
// on a node.
func (o *owner) where() string {
	if o.node == "" {
		return fmt.Sprintf("module %q", o.module)
	}
	return fmt.Sprintf("module %q on node %q", o.module, o.node)
}

// checkEvent checks an event from p: only the owner of an id publishes
// it, with the type it announced and content that can cross processes.
func (p *hubPort) checkEvent(e *entry, m *kervipb.Msg) error {
	switch {
	case e == nil || e.owner == nil:
		return errors.New("no module owns the id")
	case e.owner.port != p:
		return fmt.Errorf("the id is owned by %s", e.owner.where())
	case e.owner.desc.Kind != KindValue:
		return fmt.Errorf("the id is a %s, not a value", e.owner.desc.Kind)
	case m.Type != kervipb.ValueType(e.owner.desc.Type):
		return fmt.Errorf("a %s value cannot publish a %s", e.owner.desc.Type, Type(m.Type))
	case m.Type == kervipb.ValueType_VALUE_TYPE_NUMBER && math.IsNaN(m.Number):
		return errors.New("NaN is not a number")
	case m.Text != "" && !utf8.ValidString(m.Text):
		return errors.New("text is not valid UTF-8")
	case len(m.Text) > p.hub.lim.MaxMessageSize:
		return fmt.Errorf("%d bytes are larger than the limit of %d", len(m.Text), p.hub.lim.MaxMessageSize)
	}
	return nil
}

// refuseLocked logs a refused event, once per id and port (the first 1024
// ids; then it only counts them).
func (p *hubPort) refuseLocked(id string, err error) {
	p.refused++
	if p.refusals == nil {
		p.refusals = make(map[string]bool)
	}
	if p.refusals[id] || len(p.refusals) >= 1024 {
		return
	}
	p.refusals[id] = true
	p.hub.log.Warn("hub: event refused", "module", p.module, "id", quoteID(id), "error", err)
}

// announceLocked records the claim of an id by p.
func (h *hubCore) announceLocked(r *router, p *hubPort, m *kervipb.Msg, notices *[]plumb.Notice) *entry {
	reject := func(err *Error) {
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_REJECTED, Id: m.Id, Error: toWire("", err)})
	}
	if err := ValidateID(m.Id); err != nil {
		reject(err.(*Error))
		return nil
	}
	d, err := describe(m.Id, m.Component)
	if err != nil {
		reject(newError(CodeMalformed, m.Id, p.module, "announcement: %v", err))
		return nil
	}
	claim := &owner{module: p.module, node: h.node, port: p}
	if p.proxy {
		claim.module = d.Module
		claim.node = p.node
		if p.node == "" || plumb.ValidModule(d.Module) != nil {
			reject(newError(CodeMalformed, m.Id, p.module, "announcement from node %q: module %q", p.node, d.Module))
			return nil
		}
	}
	e := h.ids[m.Id]
	if e != nil && e.owner != nil && (e.owner.module != claim.module || e.owner.node != claim.node) {
		var err *Error
		if claim.node == h.node && e.owner.node == h.node {
			err = newError(CodeDuplicateID, m.Id, "", "claimed by modules %q and %q", e.owner.module, claim.module)
		} else {
			err = newError(CodeDuplicateID, m.Id, "", "claimed by %s and %s", e.owner.where(), claim.where())
		}
		n := plumb.Notice{Kind: plumb.NoticeDuplicate, Module: claim.module, Node: claim.node, ID: m.Id,
			Other: e.owner.module, OtherNode: e.owner.node, Err: err}
		if claim.node == h.node && e.owner.node != h.node {
			// A module of this node wins over an id imported from another:
			// the import is refused, and the module takes the id.
			if op := e.owner.port; op != nil {
				r.send(op, &kervipb.Msg{Kind: kervipb.Kind_KIND_REJECTED, Id: m.Id, Error: toWire("", err)})
			}
			*notices = append(*notices, n)
			h.retireEntriesLocked(r, []*entry{e})
			e = nil
		} else {
			reject(err)
			*notices = append(*notices, n)
			return e
		}
	}
	if (e == nil || e.owner == nil) && p.owned >= h.lim.MaxIDs {
		reject(newError(CodeBusy, m.Id, p.module, "module %q already owns %d ids, the limit", p.module, h.lim.MaxIDs))
		return e
	}
	if e == nil {
		e = h.entryLocked(m.Id)
	}
	if e.owner == nil || e.owner.port != p {
		p.owned++
	}
	h.ownLocked(r, claim, e, d, m.Component)
	if e.interested() {
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_INTEREST, Id: m.Id, Flag: true})
	}
	return e
}

// malformedLocked handles a message from p that could not be decoded: a
// call or set is answered with the error, anything else is logged.
func (h *hubCore) malformedLocked(r *router, p *hubPort, m *kervipb.Msg) {
	switch m.Kind {
	case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET, kervipb.Kind_KIND_DESCRIBE:
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: m.Error})
	default:
		h.log.Warn("hub: malformed message", "module", p.module, "kind", m.Kind.String(),
			"id", quoteID(m.Id), "error", m.Error.GetMessage())
	}
}

// entryLocked returns the entry of id, making it if need be.
func (h *hubCore) entryLocked(id string) *entry {
	e := h.ids[id]
	if e == nil {
		e = &entry{id: id}
		h.ids[id] = e
	}
	return e
}

// forgetLocked removes an entry nobody owns or follows.
func (h *hubCore) forgetLocked(e *entry) {
	if e.owner == nil && len(e.subs) == 0 && len(e.latest) == 0 {
		delete(h.ids, e.id)
	}
}

// router collects what a routing step sends to each port, and queues it
// in one operation per port at the end of the step, still under the hub's
// lock, so that the order of the hub's decisions is the order of delivery.
type router struct {
	touched []*hubPort
	msgs    [][]*kervipb.Msg // parallel to touched
	slots   [][]*slot        // parallel to touched: what each slotMsg in msgs stands for, in order
	events  []*hubPort       // ports that were sent value events
}

// slotMsg stands in a router's messages for the next of its slots.
var slotMsg = &kervipb.Msg{}

// send queues m for q.
func (r *router) send(q *hubPort, m *kervipb.Msg) {
	for i, t := range r.touched {
		if t == q {
			r.msgs[i] = append(r.msgs[i], m)
			return
		}
	}
	r.touched = append(r.touched, q)
	r.msgs = append(r.msgs, []*kervipb.Msg{m})
	r.slots = append(r.slots, nil)
}

// sendLatest queues m, an event of id, for a latest-only subscriber: it
// joins the subscriber's slot if one waits, so that at most one event of
// the id waits for it. Such events never hold their sender back.
func (r *router) sendLatest(ls *latestSub, id string, m *kervipb.Msg) {
	size := msgSize(m)
	if s := ls.slot; s != nil {
		if s.join(m, size) {
			return
		}
		if old := s.m.Load(); old != sentSlot {
			s.m.CompareAndSwap(old, sentSlot) // too small for m: m replaces it
		}
	}
	s := &slot{id: id, size: max(size, 512)}
	s.m.Store(m)
	ls.slot = s
	r.send(ls.port, slotMsg)
	i := len(r.touched) - 1
	for r.touched[i] != ls.port {
		i--
	}
	r.slots[i] = append(r.slots[i], s)
}

// queue queues what was routed: value events and the messages that stay
// in order with them in the event lane, in order; everything else in the
// control lane, ahead of queued events. The hub's lock is held.
func (r *router) queue() {
	for i, q := range r.touched {
		var evs []item
		ctrl, wait := false, false
		slots := r.slots[i]
		for _, m := range r.msgs[i] {
			if m == slotMsg {
				evs = append(evs, item{slot: slots[0], size: slots[0].size})
				slots = slots[1:]
				continue
			}
			if ordered(m.Kind) {
				evs = append(evs, item{m: m, size: msgSize(m)})
				wait = true
				continue
			}
			if !q.out.push(m, false) {
				q.Fail(errOverflow)
			}
			ctrl = true
		}
		if ctrl {
			q.out.ctrl.kick()
		}
		if len(evs) > 0 {
			q.out.pushEvents(evs)
			if wait {
				r.events = append(r.events, q)
			}
		}
	}
}

// wait, called once the hub's lock is released, waits while a receiving
// process's value events pile up and it reads them: that slows the sender
// down to the pace of the subscribers that keep reading, instead of
// coalescing their events. A receiver that reads nothing for
// Limits.StallTimeout holds nobody back (see mailbox.waitRoom).
func (r *router) wait() {
	for _, q := range r.events {
		if q.out.over() {
			q.out.waitRoom(q.failed)
		}
	}
}

// routeCallLocked forwards a call or set to the owner of its id, or
// answers it with an error.
func (h *hubCore) routeCallLocked(r *router, p *hubPort, m *kervipb.Msg) {
	fail := func(err *Error) {
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: toWire("", err)})
	}
	if err := ValidateID(m.Id); err != nil {
		fail(err.(*Error))
		return
	}
	wantKind := KindAction
	if m.Kind == kervipb.Kind_KIND_SET || m.Kind == kervipb.Kind_KIND_GET {
		wantKind = KindValue
	}
	var o *owner
	if e := h.ids[m.Id]; e != nil {
		o = e.owner
	}
	size := int64(msgSize(m))
	switch {
	case o == nil && p.phase == phaseSetup && !h.appReady:
		fail(newError(CodeNotReady, m.Id, "", "no module owns %q yet: a module's setup cannot call other modules "+
			"(call them from a controller's Start, an OnAppReady callback or later)", m.Id))
	case o == nil:
		fail(newError(CodeUnknownID, m.Id, "", "no module owns %q", m.Id))
	case o.desc.Kind != wantKind:
		fail(newError(CodeUnknownID, m.Id, o.module, "%q is a %s, not a %s", m.Id, o.desc.Kind, wantKind))
	case o.port == nil && o.node != h.node:
		fail(newError(CodeOwnerGone, m.Id, o.module, "node %q is offline", o.node))
	case o.port == nil:
		fail(newError(CodeOwnerGone, m.Id, o.module, "module %q is not running", o.module))
	case p.proxy && o.port.proxy:
		fail(newError(CodeUnknownID, m.Id, o.module, "%q is not on node %q: %s owns it", m.Id, h.node, o.where()))
	case o.port != p && o.port.phase < phaseStarted && p.phase == phaseSetup && m.Kind != kervipb.Kind_KIND_GET:
		// (A read needs no started owner: the owner answers it below user
		// code.)
		fail(newError(CodeNotReady, m.Id, o.module, "module %q has not started: a module's setup cannot call other modules "+
			"(call them from a controller's Start, an OnAppReady callback or later)", o.module))
	case (o.port.inflight >= h.lim.MaxCalls || o.port.inBytes+size > h.lim.QueueBytes) && o.port.proxy:
		// A node's port carries the calls to all its modules.
		fail(newError(CodeBusy, m.Id, o.module, "node %q has %d calls and sets in flight from node %q (to all its modules), the limit",
			o.node, o.port.inflight, h.node))
	case o.port.inflight >= h.lim.MaxCalls || o.port.inBytes+size > h.lim.QueueBytes:
		fail(newError(CodeBusy, m.Id, o.module, "module %q has %d calls and sets in flight, the limit", o.module, o.port.inflight))
	default:
		h.seq++
		hs := h.seq
		h.calls[hs] = &hubCall{from: p, seq: m.Seq, to: o.port, id: m.Id, size: size}
		p.calls[m.Seq] = hs
		o.port.inflight++
		o.port.inBytes += size
		f := shallowCopy(m)
		f.Seq = hs
		// A call from another node names its module, if that is a
		// module's name; else the node's port.
		if !p.proxy || plumb.ValidModule(m.Module) != nil {
			f.Module = p.module
		}
		r.send(o.port, f)
	}
}

// endCallLocked forgets the call hs.
func (h *hubCore) endCallLocked(hs uint64, c *hubCall) {
	delete(h.calls, hs)
	delete(c.from.calls, c.seq)
	c.to.inflight--
	c.to.inBytes -= c.size
}

// interested reports whether a process other than the owner of the id
// subscribes to it. The hub's lock is held.
func (e *entry) interested() bool {
	var ownerPort *hubPort
	if e.owner != nil {
		ownerPort = e.owner.port
	}
	for _, q := range e.subs {
		if q != ownerPort {
			return true
		}
	}
	if ownerPort != nil && ownerPort.proxy {
		// The bridge brings an imported id's events only while someone
		// follows it: latest-only subscribers are interest too.
		for _, ls := range e.latest {
			if ls.port != ownerPort {
				return true
			}
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
func (e *entry) unsubscribe(r *router, p *hubPort) {
	was := e.interested()
	e.remove(p)
	e.tellInterest(r, was)
}

// remove takes p off the entry's subscribers.
func (e *entry) remove(p *hubPort) {
	for i, q := range e.subs {
		if q == p {
			e.subs = append(e.subs[:i:i], e.subs[i+1:]...)
			break
		}
	}
	for i, ls := range e.latest {
		if ls.port == p {
			e.latest = append(e.latest[:i:i], e.latest[i+1:]...)
			break
		}
	}
}

// place puts p, which subscribes to the entry's id, among the subscribers
// of every event if one of its subscriptions wants every event, among
// those of the latest content otherwise, and tells the owner if the
// interest changed. Only subscribers of every event are interest.
func (e *entry) place(r *router, p *hubPort) {
	was := e.interested()
	full := p.subs[e.id] > p.latest[e.id]
	if slices.Contains(e.subs, p) == full && (full || slices.ContainsFunc(e.latest, func(ls latestSub) bool { return ls.port == p })) {
		return
	}
	e.remove(p)
	if full {
		e.subs = append(e.subs, p)
	} else {
		e.latest = append(e.latest, latestSub{port: p})
	}
	e.tellInterest(r, was)
}

// Detach disconnects a module whose process ended: its subscriptions go,
// the ids it owns stay its own but have no running owner (calls to them
// fail with ErrOwnerGone until it is back), calls it was serving fail, and
// calls it made are cancelled.
func (p *hubPort) Detach() {
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
	h.unfollowLocked(p)
	for id := range p.subs {
		if e := h.ids[id]; e != nil {
			e.unsubscribe(r, p)
			h.forgetLocked(e)
		}
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
			if p.proxy { // named by the id's module, not the port
				module := ""
				if e := h.ids[c.id]; e != nil && e.owner != nil {
					module = e.owner.module
				}
				err = newError(CodeOwnerGone, c.id, module, "node %q went offline during the call", p.node)
			}
			r.send(c.from, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: c.seq, Id: c.id, Error: toWire("", err)})
			h.endCallLocked(hs, c)
		case c.from == p:
			r.send(c.to, &kervipb.Msg{Kind: kervipb.Kind_KIND_CANCEL, Seq: hs, Id: c.id})
			delete(h.calls, hs)
			c.to.inflight--
			c.to.inBytes -= c.size
		}
	}
	r.queue()
	h.mu.Unlock()
	p.out.kill(ErrOwnerGone)
}

// Undeliverable is told by the transport about a message it could not
// encode for the module: the message fails alone. A call or set it
// forwarded is answered to its caller with the reason; a result is
// replaced by an error result; anything else is logged.
func (p *hubPort) Undeliverable(m *kervipb.Msg, err error) {
	h := p.hub
	r := &router{}
	h.mu.Lock()
	switch m.Kind {
	case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET:
		if c := h.calls[m.Seq]; c != nil && c.to == p {
			h.endCallLocked(m.Seq, c)
			e := newError(CodeBadArgs, c.id, p.module, "the request could not be encoded: %v", err)
			r.send(c.from, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: c.seq, Id: c.id, Error: toWire("", e)})
		}
	case kervipb.Kind_KIND_RESULT:
		e := newError(CodeActionFailed, m.Id, "", "the result could not be encoded: %v", err)
		r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: toWire("", e)})
	default:
		h.log.Error("hub: message could not be sent", "module", p.module, "kind", m.Kind.String(), "id", quoteID(m.Id), "error", err)
	}
	r.queue()
	h.mu.Unlock()
}

// Flush waits until the messages queued for the module were handed to it.
func (p *hubPort) Flush(ctx context.Context) error {
	if err := p.out.flush(ctx.Done()); err != nil {
		if errors.Is(err, errFlushAborted) {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// Size returns how many ids the hub knows (owned or followed) and how many
// calls are in flight: what its memory grows with.
func (h *hubCore) Size() (ids, calls int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids), len(h.calls)
}

// shallowCopy copies a message's fields, sharing its nested messages, which
// nobody modifies once sent.
func shallowCopy(m *kervipb.Msg) *kervipb.Msg {
	return &kervipb.Msg{
		Kind: m.Kind, Id: m.Id, Seq: m.Seq, Type: m.Type, Number: m.Number, Flag: m.Flag,
		Text: m.Text, Instant: m.Instant, Ts: m.Ts, Args: m.Args, Result: m.Result,
		Error: m.Error, Deadline: m.Deadline, Component: m.Component, Module: m.Module,
		Coalesced: m.Coalesced, Latest: m.Latest,
	}
}

// Connect attaches a bus to the hub in the same process, as in-process
// mode and tests do: messages pass by pointer, with no encoding, under the
// same limits.
func (h *hubCore) Connect(module string, opts plumb.BusOptions) (*Bus, *hubPort, error) {
	var port *hubPort
	var ready = make(chan struct{})
	opts.Limits = h.lim
	b := newBus(module, func(ms []*kervipb.Msg) error {
		<-ready
		port.Receive(ms)
		return nil
	}, opts)
	port, err := h.Attach(module, func(ms []*kervipb.Msg) error {
		b.receive(ms)
		return nil
	}, nil)
	if err != nil {
		b.kill()
		return nil, nil, err
	}
	close(ready)
	return b, port, nil
}

// StopTimeout is how long a module gets to stop when no deadline is given.
const StopTimeout = 10 * time.Second
