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

// computeRules returns the rule of every entry, after the placements of
// each (none: no key; an entry whose placements do not decode has an empty
// slice and is readable by no user). Declarations of dashboards and
// panels are taken in the order of the ids, first wins, as layout.Merge
// does over the catalogue.
func computeRules(entries map[string]ipc.Description, placements map[string][]layout.Placement) map[string]*rule {
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	type key struct{ dash, panel string }
	dashSpec := map[string]layout.Spec{}
	panelSpec := map[key]layout.Spec{}
	for _, id := range ids {
		for _, p := range placements[id] {
			dash := p.Dashboard
			if dash == "" {
				dash = layout.DefaultDashboard
			}
			if _, ok := dashSpec[dash]; !ok && p.DashboardSpec != nil {
				dashSpec[dash] = *p.DashboardSpec
			}
			if p.Panel == layout.Header || p.Panel == layout.Footer {
				continue
			}
			k := key{dash, p.Panel}
			if _, ok := panelSpec[k]; !ok && p.PanelSpec != nil {
				panelSpec[k] = *p.PanelSpec
			}
		}
	}
	rules := make(map[string]*rule, len(ids))
	var ruleOf func(id string, depth int) *rule
	ruleOf = func(id string, depth int) *rule {
		if r, ok := rules[id]; ok {
			return r
		}
		if strings.HasPrefix(id, systemPrefix) {
			return &rule{system: true}
		}
		ps, placed := placements[id]
		if !placed {
			// No placements: those of the parent, if any.
			d := entries[id]
			if d.Parent != "" && d.Parent != id && depth < 8 {
				if _, ok := entries[d.Parent]; ok {
					return ruleOf(d.Parent, depth+1)
				}
			}
			return &rule{open: true}
		}
		r := &rule{grants: make([]grant, 0, len(ps))}
		for _, p := range ps {
			dash := p.Dashboard
			if dash == "" {
				dash = layout.DefaultDashboard
			}
			ds := dashSpec[dash]
			ps := panelSpec[key{dash, p.Panel}]
			r.grants = append(r.grants, grant{
				dash: dash, panel: p.Panel,
				read:  [3][]string{p.Read, ps.Read, ds.Read},
				write: [3][]string{p.Write, ps.Write, ds.Write},
			})
		}
		return r
	}
	for _, id := range ids {
		rules[id] = ruleOf(id, 0)
	}
	return rules
}

// updateAccessLocked takes the catalogue change of id (d nil: retired)
// into the placements and rules, and returns the ids whose rules changed,
// id included. It runs with s.mu held, only with users.
func (s *Server) updateAccessLocked(id string, d *ipc.Description) []string {
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
	rules := computeRules(s.entries, s.placements)
	s.amu.Lock()
	old := s.rules
	s.rules = rules
	s.amu.Unlock()
	changed := []string{id}
	for k, r := range rules {
		if k != id && !reflect.DeepEqual(old[k], r) {
			changed = append(changed, k)
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
// with users, never for no user, nor for kervi.* ids; an id the catalogue
// does not hold is left to its owner (who answers that it does not know
// it), as is one without placements.
func (s *Server) canWrite(u *user, id string) bool {
	if s.auth == nil {
		return true
	}
	if u == nil {
		return false
	}
	r := s.ruleOf(id)
	switch {
	case r == nil:
		return !strings.HasPrefix(id, systemPrefix)
	case r.system:
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
