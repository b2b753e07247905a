package ipc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	node        string        // the node the process runs on, from the welcome; under mu
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

// Node returns the node (machine) the process runs on, in an application
// of several nodes (kervi.WithNodes), once the hub welcomed it (before
// its module's setup runs); "" on one machine.
func (b *Bus) Node() string {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.node
}
