package dashboard

import (
	"reflect"
	"testing"
)

// TestFilterLayout: a widget the rule refuses is dropped, and so are the
// panels and dashboards it leaves empty; an automatic dashboard that was
// empty (an application with no components yet) stays.
func TestFilterLayout(t *testing.T) {
	w := func(id string) viewWidget { return viewWidget{ID: id, Options: map[string]string{}} }
	l := &viewLayout{Dashboards: []viewDashboard{
		{Name: "main", Header: []viewWidget{w("a.h"), w("b.h")}, Footer: []viewWidget{}, Panels: []viewPanel{
			{Name: "p1", Widgets: []viewWidget{w("a.x"), w("b.x")}},
			{Name: "p2", Widgets: []viewWidget{w("b.y")}},
		}},
		{Name: "cellar", Header: []viewWidget{}, Footer: []viewWidget{}, Panels: []viewPanel{{Name: "p", Widgets: []viewWidget{w("b.z")}}}},
		{Name: "all", Auto: true, Header: []viewWidget{}, Footer: []viewWidget{}, Panels: []viewPanel{
			{Name: "a", Widgets: []viewWidget{w("a.q")}}, {Name: "b", Widgets: []viewWidget{w("b.x")}}}},
		{Name: "empty", Auto: true, Header: []viewWidget{}, Footer: []viewWidget{}, Panels: []viewPanel{}},
	}}
	var asked []string
	f := filterLayout(l, func(dash, panel, id string) bool {
		asked = append(asked, dash+"/"+panel+"/"+id)
		return id[0] == 'a'
	})
	if len(f.Dashboards) != 3 || f.Dashboards[0].Name != "main" || f.Dashboards[1].Name != "all" || f.Dashboards[2].Name != "empty" {
		t.Fatalf("dashboards: %+v", f.Dashboards)
	}
	m := f.Dashboards[0]
	if !reflect.DeepEqual(m.Header, []viewWidget{w("a.h")}) || len(m.Panels) != 1 || m.Panels[0].Name != "p1" ||
		!reflect.DeepEqual(m.Panels[0].Widgets, []viewWidget{w("a.x")}) {
		t.Fatalf("main: %+v", m)
	}
	if a := f.Dashboards[1]; len(a.Panels) != 1 || a.Panels[0].Name != "a" {
		t.Fatalf("all: %+v", a)
	}
	if asked[0] != "main/header/a.h" || asked[2] != "main/p1/a.x" {
		t.Fatalf("the rule was asked %v", asked)
	}
	// The layout filtered is unchanged.
	if len(l.Dashboards) != 4 || len(l.Dashboards[0].Panels[0].Widgets) != 2 {
		t.Fatalf("filterLayout changed its input: %+v", l)
	}
}
