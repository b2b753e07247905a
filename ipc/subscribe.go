package ipc

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// SubscribeOption configures a subscription (Bus.Subscribe,
// Bus.SubscribePattern).
type SubscribeOption func(*subscribeConfig) error

type subscribeConfig struct {
	latest bool
	owner  string
}

// LatestOnly makes a subscription follow the latest content of its ids
// rather than every event: the events of an id that arrive while the
// subscriber is busy are coalesced to the latest one, always, wherever
// they wait (in the hub and in this process), so that at most one event
// per id waits for it. Each id's events still arrive in order, and the
// subscriber always ends on each id's latest content. A latest-only
// subscription is not interest in the id (see Publisher.Followed): the
// owner keeps coalescing its events, so an observer that follows
// everything, such as a dashboard, does not make every publisher send
// every change. While another subscription of the same process follows an
// id in full, a latest-only subscription of that id sees every event too.
func LatestOnly() SubscribeOption {
	return func(c *subscribeConfig) error { c.latest = true; return nil }
}

// OwnedBy makes a subscription follow only ids owned by the named module.
func OwnedBy(module string) SubscribeOption {
	return func(c *subscribeConfig) error {
		if module == "" {
			return errors.New("OwnedBy: empty module name")
		}
		c.owner = module
		return nil
	}
}

// Subscription is a subscription to the events of one id, or of the ids
// that match a pattern, or a follower of the catalogue.
type Subscription struct {
	b      *Bus
	id     string   // by id, without an owner filter
	pat    *pattern // by pattern, or by id with an owner filter
	owner  string   // OwnedBy
	latest bool     // LatestOnly
	fn     func(Event)
	cat    func(CatalogueChange) // a follower of the catalogue
	refs   map[string]*subRef    // the ids it follows, under b.mu
	closed atomic.Bool
}

// subRef is a subscription's hold on one id.
type subRef struct {
	s    *Subscription
	st   *idState // nil for a follower of the catalogue
	seen bool     // it was given an event of the id; touched only by the dispatcher
}

// Subscribe calls fn with every event of id, wherever in the application
// the id's owner lives, starting with the id's current value if it has one.
// The owner need not exist yet: events flow once it announces itself.
// Events of one id arrive in the order they were published. A process
// follows at most Limits.MaxIDs ids. Options: LatestOnly, OwnedBy.
func (b *Bus) Subscribe(id string, fn func(Event), opts ...SubscribeOption) (*Subscription, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c, err := subscribeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("kervi: subscribe %s: %w", quoteID(id), err)
	}
	if c.owner != "" {
		return b.subscribePattern(literalPattern(id), c, fn)
	}
	s := &Subscription{b: b, id: id, latest: c.latest, fn: fn, refs: make(map[string]*subRef, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.attachLocked(s, b.stateLocked(id), nil); err != nil {
		return nil, fmt.Errorf("kervi: subscribe %s: %w", quoteID(id), err)
	}
	return s, nil
}

// SubscribePattern calls fn with the events of every value whose id
// matches pattern, wherever in the application it lives: for each, first
// its current content, if it has one, then every event (or the latest
// content, with LatestOnly), in order. Values announced later join as they
// are announced, after the catalogue's announcement of them (see
// FollowCatalogue); values retired leave.
//
// A pattern is made of tokens separated by ".", as ids are: "*" matches
// any one token, and ">", only as the last token, matches one token or
// more. "sensors.*" matches "sensors.temp" but neither "sensors" nor
// "sensors.temp.max"; "greenhouse.>" matches both "greenhouse.temp" and
// "greenhouse.fan.speed"; ">" matches every id. These are the subjects of
// NATS. An invalid pattern fails with an error that wraps
// ErrInvalidPattern and names the token at fault. Options: LatestOnly,
// OwnedBy (only values owned by that module).
//
// The process follows the catalogue (see FollowCatalogue) and subscribes to
// each matching id as Subscribe does: each counts towards Limits.MaxIDs. An
// id the limit keeps out is reported to the error handler.
func (b *Bus) SubscribePattern(pattern string, fn func(Event), opts ...SubscribeOption) (*Subscription, error) {
	p, err := parsePattern(pattern)
	if err != nil {
		return nil, err
	}
	c, err := subscribeOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("kervi: subscribe %q: %w", pattern, err)
	}
	return b.subscribePattern(p, c, fn)
}

func subscribeOptions(opts []SubscribeOption) (subscribeConfig, error) {
	var c subscribeConfig
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (b *Bus) subscribePattern(p *pattern, c subscribeConfig, fn func(Event)) (*Subscription, error) {
	s := &Subscription{b: b, pat: p, owner: c.owner, latest: c.latest, fn: fn, refs: make(map[string]*subRef)}
	b.mu.Lock()
	b.pats = append(b.pats, s)
	b.followCatalogueLocked()
	for _, d := range b.cat {
		b.matchLocked(s, d, nil)
	}
	b.mu.Unlock()
	b.reportLate()
	return s, nil
}

// ID returns the subscribed id, or the pattern, or "" for a follower of
// the catalogue.
func (s *Subscription) ID() string {
	if s == nil {
		return ""
	}
	if s.pat != nil {
		return s.pat.text
	}
	return s.id
}

// Close ends the subscription; its function is not called after Close
// returns, unless Close is called from that function itself. Closing a nil
// subscription (that of a value whose creation failed) does nothing.
func (s *Subscription) Close() {
	if s == nil || s.closed.Swap(true) {
		return
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ref := range s.refs {
		b.detachLocked(ref)
	}
	if s.pat != nil {
		for i, x := range b.pats {
			if x == s {
				b.pats = append(b.pats[:i:i], b.pats[i+1:]...)
				break
			}
		}
	}
}

// matchLocked attaches s to the value d describes if s follows it, and
// detaches it if it no longer does. Attaching queues the id's current
// content in batch, if not nil, or for the dispatcher.
func (b *Bus) matchLocked(s *Subscription, d *Description, batch *[]item) {
	want := d.Kind == KindValue && s.pat.match(d.ID) && (s.owner == "" || s.owner == d.Module)
	ref := s.refs[d.ID]
	switch {
	case want && ref == nil:
		if err := b.attachLocked(s, b.stateLocked(d.ID), batch); err != nil {
			b.lateErrs = append(b.lateErrs, fmt.Errorf("kervi: subscription %q: %s: %w", s.pat.text, quoteID(d.ID), err))
		}
	case !want && ref != nil:
		b.detachLocked(ref)
	}
}

// reportLate reports the errors found while the bus's lock was held, on
// goroutines of the bus: the caller may be one that must not run user code.
func (b *Bus) reportLate() {
	b.mu.Lock()
	errs := b.lateErrs
	b.lateErrs = nil
	b.mu.Unlock()
	for _, err := range errs {
		b.Go(func(context.Context) { b.ReportError(err) })
	}
}

// attachLocked makes s follow st, subscribing at the hub if need be, and
// queues a marker that gives s st's content (if s has seen no event of st
// by the time the dispatcher reaches it): in batch, if not nil, or for the
// dispatcher. The content of an id another process owns is taken when the
// dispatcher reaches the marker, which stores that content in order.
func (b *Bus) attachLocked(s *Subscription, st *idState, batch *[]item) error {
	ref := &subRef{s: s, st: st}
	list := &st.subs
	if s.latest {
		list = &st.latest
		if st.lkey == "" { // before the producers of events see ref
			st.lkey = "\x00" + st.id // distinct from the id's own events in a queue
		}
	}
	addRef(list, ref)
	if err := b.remoteLocked(st); err != nil {
		removeRef(list, ref)
		return err
	}
	if s.latest {
		b.latestSubs.Add(1)
	}
	s.refs[st.id] = ref
	it := item{only: ref, size: 64}
	if st.value != nil {
		// The publisher here stores its content before it queues it: give
		// s the content as it is now, before what is queued after this.
		if it.m = st.last.Load(); it.m == nil {
			return nil
		}
		it.size = msgSize(it.m)
	}
	if batch != nil {
		*batch = append(*batch, it)
	} else {
		b.in.pushEvent(it)
	}
	return nil
}

// detachLocked ends ref, unsubscribing at the hub if nothing else in the
// process follows its id.
func (b *Bus) detachLocked(ref *subRef) {
	st, s := ref.st, ref.s
	if s.latest {
		removeRef(&st.latest, ref)
		b.latestSubs.Add(-1)
		if !hasRefs(&st.latest) {
			st.lopen.Store(nil) // a later subscriber's slot goes after what is queued now
		}
	} else {
		removeRef(&st.subs, ref)
	}
	delete(s.refs, st.id)
	_ = b.remoteLocked(st) // it only ever unsubscribes here
}

func addRef(list *atomic.Pointer[[]*subRef], ref *subRef) {
	var refs []*subRef
	if old := list.Load(); old != nil {
		refs = append(refs, *old...)
	}
	refs = append(refs, ref)
	list.Store(&refs)
}

func removeRef(list *atomic.Pointer[[]*subRef], ref *subRef) {
	var refs []*subRef
	if old := list.Load(); old != nil {
		for _, x := range *old {
			if x != ref {
				refs = append(refs, x)
			}
		}
	}
	list.Store(&refs)
}

func hasRefs(list *atomic.Pointer[[]*subRef]) bool {
	refs := list.Load()
	return refs != nil && len(*refs) > 0
}

// remoteLocked brings the process's subscription to st's id at the hub in
// line with its subscribers here: every event while one of them wants every
// event, the latest content while all of them want only that, nothing
// while there are none or the process owns the id. It fails if the process
// would follow more than Limits.MaxIDs ids.
func (b *Bus) remoteLocked(st *idState) error {
	full := st.value == nil && hasRefs(&st.subs)
	latest := st.value == nil && !full && hasRefs(&st.latest)
	had := st.remote || st.remoteLatest
	if (full || latest) && !had && b.followed >= b.lim.MaxIDs {
		return fmt.Errorf("module %q already follows %d ids, the limit", b.module, b.lim.MaxIDs)
	}
	// Subscribe before unsubscribing, so that the hub never drops the id
	// in between.
	if full && !st.remote {
		st.remote = true
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_SUBSCRIBE, Id: st.id})
	}
	if latest && !st.remoteLatest {
		st.remoteLatest = true
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_SUBSCRIBE, Id: st.id, Latest: true})
	}
	if !full && st.remote {
		st.remote = false
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_UNSUBSCRIBE, Id: st.id})
	}
	if !latest && st.remoteLatest {
		st.remoteLatest = false
		b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_UNSUBSCRIBE, Id: st.id, Latest: true})
	}
	switch has := st.remote || st.remoteLatest; {
	case has && !had:
		b.followed++
	case !has && had:
		b.followed--
	}
	return nil
}

// latestItem hands m to the latest-only subscribers of st through the
// dispatcher's queue: it joins the latest-only slot of st that waits
// there, if any, or returns a new one to queue. Only the goroutine that
// produces st's events calls it (the publisher of an owned id, Receive
// for the others).
func (st *idState) latestItem(m *kervipb.Msg, size int32) (item, bool) {
	if s := st.lopen.Load(); s != nil {
		if s.join(m, size) {
			return item{}, false
		}
		if old := s.m.Load(); old != sentSlot {
			s.m.CompareAndSwap(old, sentSlot) // too small for m: m replaces it
		}
	}
	s := &slot{id: st.lkey, size: max(size, 512)}
	s.m.Store(m)
	st.lopen.Store(s)
	return item{slot: s, size: s.size}, true
}
