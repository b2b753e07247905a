package ipc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// The catalogue of an application is the description of every component
// its modules announced: values, actions, sensors and controllers. The hub
// keeps it; any process can follow it (Bus.FollowCatalogue) or read it
// once (Bus.Catalogue).

// ---- announcing ----

// Announce declares a sensor or a controller (d.Kind KindSensor or
// KindController), which own no content of their own: their values and
// actions name d.ID as their Parent. It fails as RegisterValue does.
func (b *Bus) Announce(d Description) error {
	switch d.Kind {
	case KindSensor, KindController:
	case KindValue, KindAction:
		return fmt.Errorf("kervi: announce %s: a %s is registered with RegisterValue or RegisterAction, not announced",
			quoteID(d.ID), d.Kind)
	default:
		return fmt.Errorf("kervi: announce %s: kind %s: only sensors and controllers are announced", quoteID(d.ID), d.Kind)
	}
	_, err := b.claim(d, nil)
	return err
}

// claim checks d, claims its id for this process and announces it to the
// application; own, if not nil, records (under the bus's lock) how the
// process serves the id. It fails if the id is invalid or already
// registered in this process, if d's texts are not valid UTF-8, or if its
// announcement would be larger than Limits.MaxMessageSize.
func (b *Bus) claim(d Description, own func(st *idState)) (*idState, error) {
	if err := ValidateID(d.ID); err != nil {
		return nil, err
	}
	d = d.Clone()
	d.Module = b.module
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("kervi: %s %s: %w", d.Kind, quoteID(d.ID), err)
	}
	c := d.component()
	if err := d.checkSize(c, b.lim.MaxMessageSize); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.stateLocked(d.ID)
	if st.own != nil || st.action != nil || st.value != nil { // a private action has no entry

		return nil, fmt.Errorf("%w %q: already registered in module %q", ErrDuplicateID, d.ID, b.module)
	}
	if err := b.claimLocked(d.ID); err != nil {
		return nil, err
	}
	b.owned++
	st.own = &d
	if own != nil {
		own(st)
	}
	b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: d.ID, Component: c})
	return st, nil
}

// ---- following ----

// ChangeKind says what a CatalogueChange reports.
type ChangeKind int

// The changes of a catalogue.
const (
	// ChangeAnnounced: an entry exists. Followers get one for every entry
	// when they begin to follow, then one for every entry announced, and
	// again when an entry's description changes (its module restarted and
	// announced it anew).
	ChangeAnnounced ChangeKind = iota + 1
	// ChangeRetired: an entry is gone, because its module stopped or
	// failed for good, or restarted and did not announce it again by the
	// time it was ready. Description is the entry's last description.
	ChangeRetired
	// ChangeSynced: every entry that existed when the follower began to
	// follow was delivered; what follows are changes.
	ChangeSynced
)

var changeNames = [...]string{ChangeAnnounced: "announced", ChangeRetired: "retired", ChangeSynced: "synced"}

// String names the change, such as "announced".
func (k ChangeKind) String() string {
	if k > 0 && int(k) < len(changeNames) {
		return changeNames[k]
	}
	return "change(" + strconv.Itoa(int(k)) + ")"
}

// CatalogueChange is one change of the application's catalogue.
type CatalogueChange struct {
	Kind ChangeKind
	// Description is the entry's description; zero for ChangeSynced.
	Description Description
}

// FollowCatalogue calls fn with every entry of the application's
// catalogue (ChangeAnnounced), then ChangeSynced, then each announcement
// and retirement as it happens, in the order the hub saw them. Changes
// run on the bus's dispatch goroutine, in order with value events: a
// subscriber of a pattern (SubscribePattern) sees an id's announcement
// before its events, and its retirement after them. fn should return
// quickly; it is given its own copy of each description.
//
// From the first call on, the process follows the catalogue at the hub
// until it stops; closing the subscription only stops the calls to fn.
func (b *Bus) FollowCatalogue(fn func(CatalogueChange)) (*Subscription, error) {
	if fn == nil {
		return nil, errors.New("kervi: follow catalogue: nil function")
	}
	s := &Subscription{b: b, cat: fn}
	b.mu.Lock()
	b.followCatalogueLocked()
	b.mu.Unlock()
	if ok, _ := b.in.pushEvent(item{only: &subRef{s: s}, size: 64}); !ok {
		return nil, ErrClosed
	}
	return s, nil
}

// Catalogue returns every entry of the application's catalogue, sorted by
// id. It waits, bounded by ctx, until the hub has sent the catalogue to
// this process; once it has, the process keeps following it and Catalogue
// answers from its own copy. An entry is in the catalogue once the hub has
// received its announcement: a module's entries are there once it is
// ready.
func (b *Bus) Catalogue(ctx context.Context) ([]Description, error) {
	b.mu.Lock()
	b.followCatalogueLocked()
	synced := b.catSynced
	b.mu.Unlock()
	select {
	case <-synced:
	case <-ctx.Done():
		return nil, fmt.Errorf("kervi: catalogue: %w", ctx.Err())
	case <-b.dead:
		return nil, ErrClosed
	}
	b.mu.RLock()
	out := make([]Description, 0, len(b.cat))
	for _, d := range b.cat {
		out = append(out, d.Clone())
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// followCatalogueLocked asks the hub for the catalogue, once.
func (b *Bus) followCatalogueLocked() {
	if b.cat != nil {
		return
	}
	b.cat = make(map[string]*Description)
	b.catSynced = make(chan struct{})
	b.send(&kervipb.Msg{Kind: kervipb.Kind_KIND_FOLLOW_CATALOGUE})
}

// receiveCatalogueLocked applies a change of the catalogue from the hub to
// the process's copy, and attaches pattern subscriptions to the ids they
// now follow (the markers of their ids' content go in batch, after the
// change) and detaches them from those they no longer follow. An entry
// that cannot be read goes no further.
func (b *Bus) receiveCatalogueLocked(m *kervipb.Msg, batch *[]item) {
	if b.cat == nil {
		return // not asked for
	}
	switch m.Kind {
	case kervipb.Kind_KIND_CATALOGUE:
		d, err := describe(m.Id, m.Component)
		if err != nil {
			b.log.Warn("invalid catalogue entry from the hub", "id", quoteID(m.Id), "error", err)
			return
		}
		old := b.cat[m.Id]
		b.cat[m.Id] = &d
		*batch = append(*batch, item{m: m, size: msgSize(m)})
		if old != nil && old.Kind == d.Kind && old.Module == d.Module {
			return // what patterns match is unchanged
		}
		for _, s := range b.pats {
			b.matchLocked(s, &d, batch)
		}
		return
	case kervipb.Kind_KIND_RETIRE:
		if b.cat[m.Id] == nil {
			return
		}
		delete(b.cat, m.Id)
		for _, s := range b.pats {
			if ref := s.refs[m.Id]; ref != nil {
				b.detachLocked(ref)
			}
		}
	case kervipb.Kind_KIND_CATALOGUE_SYNCED:
		select {
		case <-b.catSynced:
			return
		default:
			close(b.catSynced)
		}
	}
	*batch = append(*batch, item{m: m, size: msgSize(m)})
}

// dispatchCatalogue tells the followers of the catalogue about a change;
// it runs on the dispatcher, which keeps its own copy of the catalogue, in
// step with what it delivered.
func (b *Bus) dispatchCatalogue(m *kervipb.Msg) {
	var ch CatalogueChange
	switch m.Kind {
	case kervipb.Kind_KIND_CATALOGUE:
		d, err := describe(m.Id, m.Component)
		if err != nil {
			return
		}
		if b.dcat == nil {
			b.dcat = make(map[string]Description)
		}
		b.dcat[m.Id] = d
		ch = CatalogueChange{Kind: ChangeAnnounced, Description: d}
	case kervipb.Kind_KIND_RETIRE:
		d, ok := b.dcat[m.Id]
		if !ok {
			return
		}
		delete(b.dcat, m.Id)
		ch = CatalogueChange{Kind: ChangeRetired, Description: d}
	case kervipb.Kind_KIND_CATALOGUE_SYNCED:
		b.dsynced = true
		ch = CatalogueChange{Kind: ChangeSynced}
	}
	live := b.catSubs[:0]
	for _, s := range b.catSubs {
		if !s.closed.Load() {
			live = append(live, s)
			b.deliverChange(s, ch)
		}
	}
	clear(b.catSubs[len(live):])
	b.catSubs = live
}

// joinCatalogue gives a new follower of the catalogue every entry the
// dispatcher knows, then has it follow the changes.
func (b *Bus) joinCatalogue(s *Subscription) {
	ids := make([]string, 0, len(b.dcat))
	for id := range b.dcat {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if s.closed.Load() {
			return
		}
		b.deliverChange(s, CatalogueChange{Kind: ChangeAnnounced, Description: b.dcat[id]})
	}
	if b.dsynced && !s.closed.Load() {
		b.deliverChange(s, CatalogueChange{Kind: ChangeSynced})
	}
	b.catSubs = append(b.catSubs, s)
}

func (b *Bus) deliverChange(s *Subscription, ch CatalogueChange) {
	defer b.recoverCallback("catalogue follower", ch.Description.ID)
	ch.Description = ch.Description.Clone()
	s.cat(ch)
}

// Retire retires every entry module owns: the module stopped or failed for
// good. Followers of the catalogue are told, once per entry; the ids are
// free to be claimed again, and their last values are forgotten. The
// runtime calls it.
func (h *hubCore) Retire(module string) {
	r := &router{}
	h.mu.Lock()
	h.retireLocked(r, func(o *owner) bool { return o.module == module && o.node == h.node })
	r.queue()
	h.mu.Unlock()
}

// retireLocked retires the entries whose owner is, in the order of their
// ids.
func (h *hubCore) retireLocked(r *router, is func(o *owner) bool) {
	var gone []*entry
	for _, e := range h.ids {
		if e.owner != nil && is(e.owner) {
			gone = append(gone, e)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].id < gone[j].id })
	h.retireEntriesLocked(r, gone)
}

// retireEntriesLocked retires the entries, in order.
func (h *hubCore) retireEntriesLocked(r *router, gone []*entry) {
	for _, e := range gone {
		o := e.owner
		if o.port != nil && !o.port.closed {
			o.port.owned--
		}
		e.owner = nil
		e.last = nil
		e.resetSlots()
		m := &kervipb.Msg{Kind: kervipb.Kind_KIND_RETIRE, Id: e.id, Module: o.module}
		for _, q := range h.followers {
			r.send(q, m)
		}
		h.forgetLocked(e)
	}
}

// followLocked makes p follow the catalogue: every entry, sorted by id,
// then KIND_CATALOGUE_SYNCED, then each change.
func (h *hubCore) followLocked(r *router, p *hubPort) {
	if p.follows {
		return
	}
	p.follows = true
	h.followers = append(h.followers, p)
	ids := make([]string, 0, len(h.ids))
	for id, e := range h.ids {
		if e.owner != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		r.send(p, catalogueMsg(h.ids[id]))
	}
	r.send(p, &kervipb.Msg{Kind: kervipb.Kind_KIND_CATALOGUE_SYNCED})
}

// unfollowLocked forgets p as a follower of the catalogue.
func (h *hubCore) unfollowLocked(p *hubPort) {
	if !p.follows {
		return
	}
	p.follows = false
	if i := slices.Index(h.followers, p); i >= 0 {
		h.followers = slices.Delete(h.followers, i, i+1)
	}
}

func catalogueMsg(e *entry) *kervipb.Msg {
	return &kervipb.Msg{Kind: kervipb.Kind_KIND_CATALOGUE, Id: e.id, Component: e.owner.comp}
}

// ownLocked makes o the owner of e as d (c is its wire form),
// and tells the followers of the catalogue if the entry is new or its
// description changed.
func (h *hubCore) ownLocked(r *router, o *owner, e *entry, d Description, c *kervipb.Component) {
	d.Module, d.Node = o.module, o.node
	if c.GetModule() != o.module || c.GetNode() != o.node {
		c = proto.CloneOf(c)
		c.Module, c.Node = o.module, o.node
	}
	changed := e.owner == nil || !proto.Equal(e.owner.comp, c)
	o.comp, o.desc = c, d
	e.owner = o
	if !changed {
		return
	}
	if d.Kind != KindValue {
		e.last = nil
	}
	e.resetSlots()
	m := catalogueMsg(e)
	for _, q := range h.followers {
		r.send(q, m)
	}
}

// resetSlots makes the next event of e for each latest-only subscriber
// take a new place in its queue, after what was queued for it until now
// (such as a change of the catalogue).
func (e *entry) resetSlots() {
	for i := range e.latest {
		e.latest[i].slot = nil
	}
}
