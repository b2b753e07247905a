package layout

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kervi/kervi-go/ipc"
)

// Layout is the dashboards of an application, built by Merge from the
// placements of its components.
type Layout struct {
	// Dashboards are in order: by Spec.Order, then by first use.
	Dashboards []Dashboard
	// Conflicts are the declarations that lost to an earlier, different
	// one, in the order of the entries.
	Conflicts []Conflict
	// Errors are the entries whose placements could not be decoded (see
	// Of); their components are on no dashboard.
	Errors []error
}

// Dashboard is a dashboard of a Layout.
type Dashboard struct {
	// Name is the dashboard's name, as placements name it.
	Name string
	// Spec is its first declaration; Title is Name if it declared none.
	Spec Spec
	// Header and Footer are the widgets of its header and footer areas,
	// in order.
	Header, Footer []Widget
	// Panels are its other panels, in order: by Spec.Order, then by first
	// use.
	Panels []Panel
}

// Panel is a panel of a Dashboard.
type Panel struct {
	// Name is the panel's name, as placements name it; DefaultPanel is
	// the dashboard's untitled panel.
	Name string
	// Spec is its first declaration; Title is Name if it declared none.
	Spec Spec
	// Widgets are in order: by Placement.Order, then in the order of the
	// entries.
	Widgets []Widget
}

// Widget is a component placed on a panel.
type Widget struct {
	// ID, Kind and Module are the component's, from its description.
	ID     string
	Kind   ipc.Kind
	Module string
	// Placement is the component's placement, with Dashboard filled in.
	Placement Placement
}

// Conflict is a declaration of a dashboard or of a panel that differs from
// an earlier one, which wins. A dashboard that merges the catalogue again
// after each change logs each conflict once by keeping the ones it logged
// in a set, keyed by Key (a Conflict holds a Spec, whose groups are slices:
// it is not comparable).
type Conflict struct {
	// Dashboard is the dashboard's name.
	Dashboard string
	// Panel is the panel's name, if IsPanel; a conflict on the dashboard's
	// declaration otherwise.
	Panel   string
	IsPanel bool
	// KeptBy is the id of the component whose declaration, Kept, wins;
	// RefusedBy the id of the one whose declaration, Refused, is ignored.
	KeptBy, RefusedBy string
	Kept, Refused     Spec
}

// Key identifies the conflict: two conflicts with the same Key are the
// same conflict.
func (c Conflict) Key() string { return c.Error() }

// Error says what conflicts, for the log.
func (c Conflict) Error() string {
	what := fmt.Sprintf("dashboard %q", c.Dashboard)
	if c.IsPanel {
		what = fmt.Sprintf("panel %q of dashboard %q", c.Panel, c.Dashboard)
	}
	return fmt.Sprintf("layout: %s declared by %q as %+v and by %q as %+v: the first declaration wins",
		what, c.KeptBy, c.Kept, c.RefusedBy, c.Refused)
}

// Merge builds the dashboards from the descriptions of the catalogue's
// entries, in the order given: "first" means first in entries. Give them
// in the catalogue's order, by id (as ipc.Bus.Catalogue returns them), and
// the layout does not change when a module restarts and announces its
// components again; in the order the dashboard learnt them
// (ipc.Bus.FollowCatalogue), the first module to start wins. Dashboards and panels are made on first
// use; the first declaration of each wins, and each later declaration that
// differs from it is a Conflict. Entries without placements are left out:
// a dashboard shows them by its own rules. Merge is a pure function: it
// does not change entries, and the same entries give the same Layout.
func Merge(entries []ipc.Description) Layout {
	var l Layout
	type panelState struct {
		p        Panel
		declared string // the id of the declaring component; "" if none yet
	}
	type boardState struct {
		d        Dashboard
		declared string
		panels   map[string]*panelState
		order    []*panelState
		header   []Widget
		footer   []Widget
	}
	boards := map[string]*boardState{}
	var order []*boardState
	declare := func(spec *Spec, kept *Spec, declared *string, id string, c Conflict) {
		if spec == nil {
			return
		}
		s := *spec
		if *declared == "" {
			*kept, *declared = s, id
			return
		}
		if !s.Equal(*kept) {
			c.KeptBy, c.RefusedBy, c.Kept, c.Refused = *declared, id, *kept, s
			l.Conflicts = append(l.Conflicts, c)
		}
	}
	for _, e := range entries {
		ps, err := Of(e)
		if err != nil {
			l.Errors = append(l.Errors, err)
			continue
		}
		for _, p := range ps {
			p = p.normalized()
			b := boards[p.Dashboard]
			if b == nil {
				b = &boardState{d: Dashboard{Name: p.Dashboard}, panels: map[string]*panelState{}}
				boards[p.Dashboard] = b
				order = append(order, b)
			}
			declare(p.DashboardSpec, &b.d.Spec, &b.declared, e.ID, Conflict{Dashboard: p.Dashboard})
			w := Widget{ID: e.ID, Kind: e.Kind, Module: e.Module, Placement: p}
			switch p.Panel {
			case Header:
				b.header = append(b.header, w)
				continue
			case Footer:
				b.footer = append(b.footer, w)
				continue
			}
			ps := b.panels[p.Panel]
			if ps == nil {
				ps = &panelState{p: Panel{Name: p.Panel}}
				b.panels[p.Panel] = ps
				b.order = append(b.order, ps)
			}
			declare(p.PanelSpec, &ps.p.Spec, &ps.declared, e.ID, Conflict{Dashboard: p.Dashboard, Panel: p.Panel, IsPanel: true})
			ps.p.Widgets = append(ps.p.Widgets, w)
		}
	}
	byOrder := func(a, b Widget) int { return cmp.Compare(a.Placement.Order, b.Placement.Order) }
	slices.SortStableFunc(order, func(a, b *boardState) int { return cmp.Compare(a.d.Spec.Order, b.d.Spec.Order) })
	for _, b := range order {
		d := b.d
		if d.Spec.Title == "" {
			d.Spec.Title = d.Name
		}
		slices.SortStableFunc(b.order, func(x, y *panelState) int { return cmp.Compare(x.p.Spec.Order, y.p.Spec.Order) })
		for _, ps := range b.order {
			p := ps.p
			if p.Spec.Title == "" {
				p.Spec.Title = p.Name
			}
			slices.SortStableFunc(p.Widgets, byOrder)
			d.Panels = append(d.Panels, p)
		}
		d.Header, d.Footer = b.header, b.footer
		slices.SortStableFunc(d.Header, byOrder)
		slices.SortStableFunc(d.Footer, byOrder)
		l.Dashboards = append(l.Dashboards, d)
	}
	return l
}
