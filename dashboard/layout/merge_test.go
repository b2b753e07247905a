package layout_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
)

// placed returns the description of a value with the given placements.
func placed(id, module string, ps ...layout.Placement) ipc.Description {
	return ipc.Description{ID: id, Kind: ipc.KindValue, Module: module,
		Meta: map[string]string{layout.MetaKey: layout.Encode(ps...)}}
}

// ids returns the ids of ws.
func ids(ws []layout.Widget) []string {
	var s []string
	for _, w := range ws {
		s = append(s, w.ID)
	}
	return s
}

func TestMerge(t *testing.T) {
	entries := []ipc.Description{
		placed("a", "m1", layout.Placement{Panel: "p2", Order: 5}),
		{ID: "unplaced", Kind: ipc.KindValue},
		placed("b", "m1",
			layout.Placement{Panel: "p1", PanelSpec: &layout.Spec{Title: "First", Order: 1, Width: 2}},
			layout.Placement{Dashboard: "extra", DashboardSpec: &layout.Spec{Title: "Extra", Order: -1}}),
		placed("c", "m2", layout.Placement{Panel: "p2", Order: 1, Widget: layout.WidgetGauge}),
		placed("d", "m2", layout.Placement{Panel: "p1", PanelSpec: &layout.Spec{Title: "Second"}}),
		placed("e", "m2", layout.Placement{Panel: layout.Header, Order: 2}, layout.Placement{Panel: layout.Footer}),
		placed("f", "m3", layout.Placement{Panel: layout.Header, Order: 1}),
		placed("g", "m3", layout.Placement{Panel: "p2"}),
		placed("h", "m3", layout.Placement{Panel: "p1", PanelSpec: &layout.Spec{Title: "First", Order: 1, Width: 2}}),
		placed("i", "m3", layout.Placement{Dashboard: "extra", DashboardSpec: &layout.Spec{Title: "Other"}}),
		{ID: "broken", Kind: ipc.KindAction, Meta: map[string]string{layout.MetaKey: "{"}},
		placed("j", "m3", layout.Placement{}),
	}
	orig := make([]ipc.Description, len(entries))
	for i, e := range entries {
		orig[i] = e.Clone()
	}
	l := layout.Merge(entries)
	if !reflect.DeepEqual(entries, orig) {
		t.Error("Merge changed its entries")
	}

	if len(l.Dashboards) != 2 {
		t.Fatalf("%d dashboards; want 2: %+v", len(l.Dashboards), l.Dashboards)
	}
	extra, main := l.Dashboards[0], l.Dashboards[1]
	if extra.Name != "extra" || !extra.Spec.Equal(layout.Spec{Title: "Extra", Order: -1}) || !reflect.DeepEqual(ids(extra.Panels[0].Widgets), []string{"b", "i"}) {
		t.Errorf("dashboard extra: %+v", extra)
	}
	if main.Name != layout.DefaultDashboard || main.Spec.Title != layout.DefaultDashboard {
		t.Errorf("default dashboard: %+v", main)
	}
	var panels []string
	for _, p := range main.Panels {
		panels = append(panels, p.Name)
	}
	// p2 and the default panel keep the order of first use; p1 declared
	// order 1.
	if want := []string{"p2", layout.DefaultPanel, "p1"}; !reflect.DeepEqual(panels, want) {
		t.Fatalf("panels %q; want %q", panels, want)
	}
	p2, def, p1 := main.Panels[0], main.Panels[1], main.Panels[2]
	if p2.Spec.Title != "p2" || !reflect.DeepEqual(ids(p2.Widgets), []string{"g", "c", "a"}) {
		t.Errorf("panel p2: %+v", p2)
	}
	if p2.Widgets[1].Module != "m2" || p2.Widgets[1].Placement.Widget != layout.WidgetGauge || p2.Widgets[1].Placement.Dashboard != layout.DefaultDashboard {
		t.Errorf("widget c: %+v", p2.Widgets[1])
	}
	if def.Spec.Title != "" || !reflect.DeepEqual(ids(def.Widgets), []string{"j"}) {
		t.Errorf("default panel: %+v", def)
	}
	if !p1.Spec.Equal(layout.Spec{Title: "First", Order: 1, Width: 2}) || !reflect.DeepEqual(ids(p1.Widgets), []string{"b", "d", "h"}) {
		t.Errorf("panel p1: %+v", p1)
	}
	if !reflect.DeepEqual(ids(main.Header), []string{"f", "e"}) || !reflect.DeepEqual(ids(main.Footer), []string{"e"}) {
		t.Errorf("header %v, footer %v", ids(main.Header), ids(main.Footer))
	}

	// The same declaration again (h) is no conflict.
	want := []layout.Conflict{
		{Dashboard: "main", Panel: "p1", IsPanel: true, KeptBy: "b", RefusedBy: "d",
			Kept: layout.Spec{Title: "First", Order: 1, Width: 2}, Refused: layout.Spec{Title: "Second"}},
		{Dashboard: "extra", KeptBy: "b", RefusedBy: "i",
			Kept: layout.Spec{Title: "Extra", Order: -1}, Refused: layout.Spec{Title: "Other"}},
	}
	if !reflect.DeepEqual(l.Conflicts, want) {
		t.Errorf("conflicts %+v; want %+v", l.Conflicts, want)
	}
	if msg := l.Conflicts[0].Error(); !strings.Contains(msg, `panel "p1" of dashboard "main"`) || !strings.Contains(msg, "first declaration wins") {
		t.Errorf("conflict message %q", msg)
	}
	if len(l.Errors) != 1 || !strings.Contains(l.Errors[0].Error(), `"broken"`) {
		t.Errorf("errors %v; want one naming broken", l.Errors)
	}

	// Merging again gives the same layout: a dashboard logs each conflict
	// once by remembering the ones it logged.
	if again := layout.Merge(entries); !reflect.DeepEqual(again.Dashboards, l.Dashboards) || !reflect.DeepEqual(again.Conflicts, l.Conflicts) {
		t.Error("a second Merge differs")
	}
}

func TestMergeEmpty(t *testing.T) {
	l := layout.Merge(nil)
	if l.Dashboards != nil || l.Conflicts != nil || l.Errors != nil {
		t.Errorf("Merge(nil) = %+v", l)
	}
}

func TestMergeGroups(t *testing.T) {
	// Two declarations that differ only in their groups conflict.
	entries := []ipc.Description{
		{ID: "a", Kind: ipc.KindValue, Meta: ipc.Meta{layout.MetaKey: layout.Encode(layout.Placement{Panel: "p", Read: []string{"family"}, PanelSpec: &layout.Spec{Read: []string{"family"}}})}},
		{ID: "b", Kind: ipc.KindValue, Meta: ipc.Meta{layout.MetaKey: layout.Encode(layout.Placement{Panel: "p", PanelSpec: &layout.Spec{Read: []string{"admin"}}})}},
	}
	l := layout.Merge(entries)
	if len(l.Conflicts) != 1 || !reflect.DeepEqual(l.Conflicts[0].Kept.Read, []string{"family"}) || l.Conflicts[0].Key() != l.Conflicts[0].Error() {
		t.Fatalf("conflicts %+v", l.Conflicts)
	}
	if p := l.Dashboards[0].Panels[0]; !reflect.DeepEqual(p.Spec.Read, []string{"family"}) || !reflect.DeepEqual(p.Widgets[0].Placement.Read, []string{"family"}) {
		t.Errorf("panel %+v", p)
	}
}
