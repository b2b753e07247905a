package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/labstack/echo/v4"
)

// The layout for the browser: the dashboards of layout.Merge over the
// catalogue, and the automatic dashboard of every component, as JSON
// (GET /api/layout and the WebSocket's "layout" message).

// Names of the automatic dashboards.
const (
	// autoMain is the automatic dashboard when no component is placed.
	autoMain = layout.DefaultDashboard
	// autoAll is the automatic dashboard after the declared ones.
	autoAll = "all"
)

type (
	viewLayout struct {
		Dashboards []viewDashboard `json:"dashboards"`
	}
	viewDashboard struct {
		Name   string       `json:"name"`
		Title  string       `json:"title"`
		Width  int          `json:"width"`
		Auto   bool         `json:"auto"`
		Header []viewWidget `json:"header"`
		Footer []viewWidget `json:"footer"`
		Panels []viewPanel  `json:"panels"`
	}
	viewPanel struct {
		Name    string       `json:"name"`
		Title   string       `json:"title"`
		Width   int          `json:"width"`
		Widgets []viewWidget `json:"widgets"`
	}
	viewWidget struct {
		ID      string            `json:"id"`
		Widget  string            `json:"widget"`
		Width   int               `json:"width"`
		Options map[string]string `json:"options"`
	}
	layoutMsg struct {
		T      string          `json:"t"`
		Layout json.RawMessage `json:"layout"`
	}
)

// views caches the layout, built again only after the catalogue changed,
// when someone asks for it.
type views struct {
	mu       sync.Mutex
	built    uint64 // the catalogue version of full
	full     *viewLayout
	fullJSON []byte // full, encoded
	logged   map[string]struct{}
}

// layoutFor returns the layout u may see, and its JSON.
func (s *Server) layoutFor(u *user) (*viewLayout, []byte) {
	full, b := s.fullLayout()
	if u == nil {
		return full, b
	}
	f := filterLayout(full, func(dash, panel, id string) bool { return s.visible(u, dash, panel, id) })
	b, err := json.Marshal(f)
	if err != nil { // cannot happen: strings, ints and maps of strings
		panic(err)
	}
	return f, b
}

// fullLayout returns the layout of the whole catalogue, building it again
// if the catalogue changed since it was last built.
func (s *Server) fullLayout() (*viewLayout, []byte) {
	s.view.mu.Lock()
	defer s.view.mu.Unlock()
	s.mu.Lock()
	ver := s.catVersion
	if s.view.full != nil && s.view.built == ver {
		s.mu.Unlock()
		return s.view.full, s.view.fullJSON
	}
	entries := s.catalogueLocked()
	s.mu.Unlock()

	l := layout.Merge(entries)
	if s.view.logged == nil {
		s.view.logged = make(map[string]struct{})
	}
	for _, c := range l.Conflicts {
		s.logOnce(c.Error(), "dashboard: layout conflict", "dashboard", c.Dashboard, "panel", c.Panel,
			"kept", c.KeptBy, "refused", c.RefusedBy, "err", c.Error())
	}
	for _, err := range l.Errors {
		s.logOnce(err.Error(), "dashboard: placements ignored", "err", err)
	}
	v := buildView(l, entries)
	b, err := json.Marshal(v)
	if err != nil { // cannot happen: strings, ints and maps of strings
		panic(err)
	}
	s.view.full, s.view.fullJSON, s.view.built = v, b, ver
	return v, b
}

// logOnce logs a warning the first time it sees key; s.view.mu is held.
func (s *Server) logOnce(key, msg string, args ...any) {
	if _, ok := s.view.logged[key]; ok {
		return
	}
	s.view.logged[key] = struct{}{}
	s.log.Warn(msg, args...)
}

// buildView turns l into the browser's layout and adds the automatic
// dashboard: "main" when no component is placed, "all" after the declared
// dashboards otherwise.
func buildView(l layout.Layout, entries []ipc.Description) *viewLayout {
	v := &viewLayout{Dashboards: []viewDashboard{}}
	for _, d := range l.Dashboards {
		vd := viewDashboard{Name: d.Name, Title: d.Spec.Title, Width: max(d.Spec.Width, 0),
			Header: widgets(d.Header), Footer: widgets(d.Footer), Panels: []viewPanel{}}
		for _, p := range d.Panels {
			vd.Panels = append(vd.Panels, viewPanel{Name: p.Name, Title: p.Spec.Title, Width: max(p.Spec.Width, 0),
				Widgets: widgets(p.Widgets)})
		}
		v.Dashboards = append(v.Dashboards, vd)
	}
	auto := autoDashboard(entries)
	if len(v.Dashboards) == 0 {
		auto.Name, auto.Title = autoMain, "Main"
	} else {
		auto.Name, auto.Title = autoAll, "All components"
	}
	v.Dashboards = append(v.Dashboards, auto)
	return v
}

func widgets(ws []layout.Widget) []viewWidget {
	out := make([]viewWidget, 0, len(ws))
	for _, w := range ws {
		opts := w.Placement.Options
		if opts == nil {
			opts = map[string]string{}
		}
		out = append(out, viewWidget{ID: w.ID, Widget: w.Placement.Widget, Width: max(w.Placement.Width, 0), Options: opts})
	}
	return out
}

// autoDashboard returns a dashboard with a panel per module (by name) holding every value and action that is not
// kervi's own, each sensor's and controller's in a row where the first of
// them would be. entries are sorted by id.
func autoDashboard(entries []ipc.Description) viewDashboard {
	d := viewDashboard{Auto: true, Header: []viewWidget{}, Footer: []viewWidget{}, Panels: []viewPanel{}}
	groups := make(map[string]bool) // ids of sensors and controllers
	children := make(map[string][]string)
	for _, e := range entries {
		if e.Kind == ipc.KindSensor || e.Kind == ipc.KindController {
			groups[e.ID] = true
		}
	}
	for _, e := range entries {
		if (e.Kind == ipc.KindValue || e.Kind == ipc.KindAction) && groups[e.Parent] {
			children[e.Parent] = append(children[e.Parent], e.ID)
		}
	}
	panels := make(map[string]int) // module → index in d.Panels
	add := func(module, id string) {
		i, ok := panels[module]
		if !ok {
			i = len(d.Panels)
			panels[module] = i
			d.Panels = append(d.Panels, viewPanel{Name: module, Title: module, Widgets: []viewWidget{}})
		}
		d.Panels[i].Widgets = append(d.Panels[i].Widgets, viewWidget{ID: id, Options: map[string]string{}})
	}
	seen := make(map[string]bool)
	for _, e := range entries {
		if isKervi(e.ID) || seen[e.ID] {
			continue
		}
		switch {
		case groups[e.ID]:
			for _, id := range children[e.ID] {
				if !seen[id] && !isKervi(id) {
					seen[id] = true
					add(e.Module, id)
				}
			}
		case e.Kind == ipc.KindValue || e.Kind == ipc.KindAction:
			if groups[e.Parent] && !isKervi(e.Parent) {
				continue // with its parent
			}
			seen[e.ID] = true
			add(e.Module, e.ID)
		}
	}
	slices.SortStableFunc(d.Panels, func(a, b viewPanel) int { return strings.Compare(a.Name, b.Name) })
	return d
}

// isKervi reports whether id is one of kervi's own components, which the
// System view shows.
func isKervi(id string) bool { return id == "kervi" || strings.HasPrefix(id, "kervi.") }

// filterLayout returns the part of l that ok lets through: widgets it
// refuses are dropped, and panels and dashboards left empty.
func filterLayout(l *viewLayout, ok func(dash, panel, id string) bool) *viewLayout {
	out := &viewLayout{Dashboards: []viewDashboard{}}
	keep := func(dash, panel string, ws []viewWidget) []viewWidget {
		kept := make([]viewWidget, 0, len(ws))
		for _, w := range ws {
			if ok(dash, panel, w.ID) {
				kept = append(kept, w)
			}
		}
		return kept
	}
	for _, d := range l.Dashboards {
		nd := d
		nd.Header = keep(d.Name, layout.Header, d.Header)
		nd.Footer = keep(d.Name, layout.Footer, d.Footer)
		nd.Panels = []viewPanel{}
		for _, p := range d.Panels {
			np := p
			np.Widgets = keep(d.Name, p.Name, p.Widgets)
			if len(np.Widgets) > 0 {
				nd.Panels = append(nd.Panels, np)
			}
		}
		if len(nd.Panels) > 0 || len(nd.Header) > 0 || len(nd.Footer) > 0 || d.Auto && len(d.Panels) == 0 {
			out.Dashboards = append(out.Dashboards, nd)
		}
	}
	return out
}

// getLayout serves GET /api/layout.
func (s *Server) getLayout(c echo.Context) error {
	_, b := s.layoutFor(userOf(c))
	return c.JSONBlob(http.StatusOK, b)
}

// layoutMessage returns the "layout" message for c if its layout changed
// since the last one it was sent, and nil otherwise.
func (s *Server) layoutMessage(c *client) []byte {
	_, b := s.layoutFor(c.user)
	if c.layoutSent != nil && bytes.Equal(c.layoutSent, b) {
		return nil
	}
	c.layoutSent = b
	m, err := json.Marshal(layoutMsg{T: "layout", Layout: b})
	if err != nil { // cannot happen
		panic(err)
	}
	return m
}
