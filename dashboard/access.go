package dashboard

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
)

// systemPrefix begins the ids of the application's own health and log
// values and actions: readable by every user, writable by none.
const systemPrefix = "kervi."

// grant is what one placement of a component lets: reading if the user is
// in the groups of each of read (the placement's, its panel's, its
// dashboard's; an empty list lets everyone), writing if also in each of
// write.
type grant struct {
	dash, panel string
	read, write [3][]string
}

func (g *grant) reads(u *user) bool {
	for _, gs := range g.read {
		if !u.inAny(gs) {
			return false
		}
	}
	return true
}

func (g *grant) writes(u *user) bool {
	if !g.reads(u) {
		return false
	}
	for _, gs := range g.write {
		if !u.inAny(gs) {
			return false
		}
	}
	return true
}

// rule is who may read and write one component.
type rule struct {
	system bool    // a kervi.* id: every user reads, none writes
	open   bool    // no placements: every user reads and writes
	grants []grant // otherwise: what each placement lets
}

// specKey names a panel of a dashboard.
type specKey struct{ dash, panel string }

// specs are the first declarations of the dashboards and panels.
type specs struct {
	dash  map[string]layout.Spec
	panel map[specKey]layout.Spec
}

// computeSpecs returns the declarations of dashboards and panels in the
// placements, taken in the order of the ids, the first winning, as
// layout.Merge does over the catalogue.
func computeSpecs(placements map[string][]layout.Placement) specs {
	sp := specs{dash: map[string]layout.Spec{}, panel: map[specKey]layout.Spec{}}
	ids := make([]string, 0, len(placements))
	for id, ps := range placements {
		if declares(ps) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, p := range placements[id] {
			dash := dashboardOf(p)
			if _, ok := sp.dash[dash]; !ok && p.DashboardSpec != nil {
				sp.dash[dash] = *p.DashboardSpec
			}
			if p.Panel == layout.Header || p.Panel == layout.Footer {
				continue
			}
			k := specKey{dash, p.Panel}
			if _, ok := sp.panel[k]; !ok && p.PanelSpec != nil {
				sp.panel[k] = *p.PanelSpec
			}
		}
	}
	return sp
}

// declares reports whether one of ps declares a dashboard or a panel.
func declares(ps []layout.Placement) bool {
	for _, p := range ps {
		if p.DashboardSpec != nil || p.PanelSpec != nil {
			return true
		}
	}
	return false
}

func dashboardOf(p layout.Placement) string {
	if p.Dashboard == "" {
		return layout.DefaultDashboard
	}
	return p.Dashboard
}

// ruleFor returns the rule of the entry id, after its placements (none:
// no key, and those of its parent apply; placements that do not decode are
// an empty slice, and no user may read the entry) and the declarations sp.
// An entry without placements whose parent is not in entries is readable
// by no user until its parent is announced.
func ruleFor(id string, entries map[string]ipc.Description, placements map[string][]layout.Placement, sp specs, depth int) *rule {
	if strings.HasPrefix(id, systemPrefix) {
		return &rule{system: true}
	}
	ps, placed := placements[id]
	if !placed {
		d := entries[id]
		if d.Parent == "" || d.Parent == id || depth >= maxParentDepth {
			return &rule{open: true}
		}
		if _, ok := entries[d.Parent]; !ok {
			// Until the parent is announced, what it lets is unknown:
			// nobody reads the component.
			return &rule{grants: []grant{}}
		}
		return ruleFor(d.Parent, entries, placements, sp, depth+1)
	}
	r := &rule{grants: make([]grant, 0, len(ps))}
	for _, p := range ps {
		dash := dashboardOf(p)
		ds := sp.dash[dash]
		ps := sp.panel[specKey{dash, p.Panel}]
		r.grants = append(r.grants, grant{
			dash: dash, panel: p.Panel,
			read:  [3][]string{p.Read, ps.Read, ds.Read},
			write: [3][]string{p.Write, ps.Write, ds.Write},
		})
	}
	return r
}

// maxParentDepth bounds the chain of parents followed for a rule.
const maxParentDepth = 8

// descends reports whether id's chain of parents reaches ancestor.
func descends(entries map[string]ipc.Description, id, ancestor string) bool {
	for range maxParentDepth {
		d, ok := entries[id]
		if !ok || d.Parent == "" || d.Parent == id {
			return false
		}
		if d.Parent == ancestor {
			return true
		}
		id = d.Parent
	}
	return false
}

// updateAccessLocked takes the catalogue change of id (d nil: retired)
// into the placements and rules, and returns the ids whose rules changed,
// id included. A change that declares no dashboard or panel (nor did
// before) changes the rules of id and of its descendants only; one that
// does, those of every entry. It runs with s.mu held, only with users.
func (s *Server) updateAccessLocked(id string, d *ipc.Description) []string {
	old := s.placements[id]
	if d == nil {
		delete(s.placements, id)
	} else {
		ps, err := layout.Of(*d)
		switch {
		case err != nil:
			s.log.Warn("dashboard: placements cannot be read; no user may see the component", "id", id, "err", err)
			s.placements[id] = []layout.Placement{}
		case len(ps) == 0:
			delete(s.placements, id)
		default:
			s.placements[id] = ps
		}
	}
	targets := []string{id}
	if declares(old) || declares(s.placements[id]) {
		s.specs = computeSpecs(s.placements)
		for x := range s.entries {
			if x != id {
				targets = append(targets, x)
			}
		}
	} else {
		for x := range s.entries {
			if x != id && descends(s.entries, x, id) {
				targets = append(targets, x)
			}
		}
	}
	changed := []string{id}
	s.amu.Lock()
	defer s.amu.Unlock()
	for _, x := range targets {
		var r *rule
		if _, ok := s.entries[x]; ok {
			r = ruleFor(x, s.entries, s.placements, s.specs, 0)
		}
		prev := s.rules[x]
		if r == nil {
			delete(s.rules, x)
		} else {
			s.rules[x] = r
		}
		if x != id && !reflect.DeepEqual(prev, r) {
			changed = append(changed, x)
		}
	}
	return changed
}

// ruleOf returns id's rule; nil for an id the catalogue does not hold.
func (s *Server) ruleOf(id string) *rule {
	s.amu.RLock()
	defer s.amu.RUnlock()
	return s.rules[id]
}

// canRead reports whether u may read id: always without users; with users,
// never for no user, and for an id the catalogue does not hold.
func (s *Server) canRead(u *user, id string) bool {
	if s.auth == nil {
		return true
	}
	if u == nil {
		return false
	}
	r := s.ruleOf(id)
	switch {
	case r == nil:
		return false
	case r.system, r.open:
		return true
	}
	for i := range r.grants {
		if r.grants[i].reads(u) {
			return true
		}
	}
	return false
}

// canWrite reports whether u may set or call id: always without users;
// with users, never for no user, for kervi.* ids, nor for an id the
// catalogue does not hold (yet: its placements, and so who may write it,
// are unknown until it is announced).
func (s *Server) canWrite(u *user, id string) bool {
	if s.auth == nil {
		return true
	}
	if u == nil {
		return false
	}
	r := s.ruleOf(id)
	switch {
	case r == nil, r.system:
		return false
	case r.open:
		return true
	}
	for i := range r.grants {
		if r.grants[i].writes(u) {
			return true
		}
	}
	return false
}

// visible reports whether u may see the component id in the panel panel
// of the dashboard dash of the layout: by the placements of id on that
// panel if it has any there, by canRead otherwise (an automatic dashboard).
// Always true without users.
func (s *Server) visible(u *user, dash, panel, id string) bool {
	if s.auth == nil {
		return true
	}
	if u == nil {
		return false
	}
	r := s.ruleOf(id)
	if r == nil || r.system || r.open {
		return s.canRead(u, id)
	}
	matched := false
	for i := range r.grants {
		g := &r.grants[i]
		if g.dash == dash && g.panel == panel {
			matched = true
			if g.reads(u) {
				return true
			}
		}
	}
	if matched {
		return false
	}
	return s.canRead(u, id)
}

// errReadRefused and errWriteRefused are the errors of a refused read and
// write, naming the user and the id.
func errReadRefused(u *user, id string) error {
	return fmt.Errorf("%w: user %q may not read %q", ErrForbidden, userName(u), id)
}

func errWriteRefused(u *user, id string) error {
	return fmt.Errorf("%w: user %q may not write %q", ErrForbidden, userName(u), id)
}

// checkWrite returns the error of a refused write (set or call) of id by
// u: a 404 for an id the catalogue does not hold (with users only; a 403
// for a kervi.* one), a 403 for a component u may not write.
func (s *Server) checkWrite(u *user, id string) error {
	if s.canWrite(u, id) {
		return nil
	}
	if u != nil && s.ruleOf(id) == nil && !strings.HasPrefix(id, systemPrefix) {
		return ipc.Errorf(ipc.CodeUnknownID, "%s: no such component", id)
	}
	return errWriteRefused(u, id)
}

func userName(u *user) string {
	if u == nil {
		return ""
	}
	return u.name
}

// accessChangedLocked tells each client of the entries among ids that it
// may now read (their entry and latest value) and that it no longer may
// (a retire), and sends the entry of announced again to those who may read
// it. It runs with s.mu held, only with users.
func (s *Server) accessChangedLocked(ids []string, announced string) {
	for c := range s.clients {
		c.layoutChanged() // what the user may see in it may have changed
		for _, id := range ids {
			d, exists := s.entries[id]
			vis := exists && s.canRead(c.user, id)
			known := c.known[id]
			switch {
			case vis:
				if !known || id == announced {
					c.entryChanged(id, &d)
				}
				if !known {
					c.known[id] = true
					if ev, ok := s.latest[id]; ok {
						c.valueChanged(ev)
					}
				}
			case known:
				delete(c.known, id)
				c.entryChanged(id, nil)
			}
		}
	}
}
