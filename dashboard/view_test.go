package dashboard_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// The layout as the browser gets it (GET /api/layout, "layout" messages).
type (
	layoutJSON struct {
		Dashboards []dashJSON `json:"dashboards"`
	}
	dashJSON struct {
		Name           string `json:"name"`
		Title          string `json:"title"`
		Width          int    `json:"width"`
		Auto           bool   `json:"auto"`
		Header, Footer []widgetJSON
		Panels         []panelJSON `json:"panels"`
	}
	panelJSON struct {
		Name    string       `json:"name"`
		Title   string       `json:"title"`
		Width   int          `json:"width"`
		Widgets []widgetJSON `json:"widgets"`
	}
	widgetJSON struct {
		ID      string            `json:"id"`
		Widget  string            `json:"widget"`
		Width   int               `json:"width"`
		Options map[string]string `json:"options"`
	}
)

// ids returns the ids of ws.
func ids(ws []widgetJSON) []string {
	out := []string{}
	for _, w := range ws {
		out = append(out, w.ID)
	}
	return out
}

// board returns the dashboard named name, or fails.
func (l layoutJSON) board(t *testing.T, name string) dashJSON {
	t.Helper()
	for _, d := range l.Dashboards {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no dashboard %q in %+v", name, l)
	return dashJSON{}
}

// TestLayoutAutomatic: with no placements, "main" shows every component,
// a panel per module, a controller's values together.
func TestLayoutAutomatic(t *testing.T) {
	_, _, url := liveServer(t)
	var l layoutJSON
	if st := do(t, "GET", url+"/api/layout", "", &l); st != 200 {
		t.Fatalf("GET /api/layout: %d", st)
	}
	if len(l.Dashboards) != 1 {
		t.Fatalf("want one dashboard, got %+v", l)
	}
	d := l.Dashboards[0]
	if d.Name != "main" || d.Title != "Main" || !d.Auto || d.Header == nil || d.Footer == nil {
		t.Fatalf("dashboard: %+v", d)
	}
	var names []string
	for _, p := range d.Panels {
		names = append(names, p.Name+"="+p.Title)
	}
	if !reflect.DeepEqual(names, []string{"fan=fan", "load=load"}) {
		t.Fatalf("panels: %v", names)
	}
	want := []string{"fan.mode", "fan.speed", "fan.temp", "fan.activate", "fan.fail"}
	if got := ids(d.Panels[0].Widgets); !reflect.DeepEqual(got, want) {
		t.Fatalf("fan panel: %v, want %v", got, want)
	}
	for _, w := range d.Panels[0].Widgets {
		if w.Widget != "" || w.Options == nil {
			t.Fatalf("automatic widget %+v: want widget \"\" and options {}", w)
		}
	}
	if got := ids(d.Panels[1].Widgets); len(got) != 12 || got[0] != "load.big" || got[1] != "load.burst" {
		t.Fatalf("load panel: %v", got)
	}
}

// placedSetup places components on two dashboards, with a panel declared
// twice, differently.
func placedSetup(ctx context.Context, bus *ipc.Bus) error {
	climate := &layout.Spec{Title: "Climate", Width: 2, Order: 1}
	values.NewNumber(bus, "room.temp", "Temperature", values.Unit("°C"), values.Output(), values.Initial(21.0),
		layout.Value(layout.Placement{Panel: "climate", PanelSpec: climate, Widget: "gauge", Width: 2,
			Options: map[string]string{"color": "red"}, DashboardSpec: &layout.Spec{Title: "Home", Width: 4}}))
	values.NewNumber(bus, "room.hum", "Humidity", values.Output(), values.Initial(40.0),
		layout.Value(layout.Placement{Panel: "climate"}))
	values.NewNumber(bus, "room.wind", "Wind", values.Output(), values.Initial(3.0),
		layout.Value(layout.Placement{Panel: "climate", PanelSpec: &layout.Spec{Title: "Weather"}}))
	values.NewBool(bus, "room.light", "Light", values.Input(), values.Initial(false),
		layout.Value(layout.Placement{Panel: layout.Header, Widget: "switch"},
			layout.Placement{Dashboard: "cellar", Panel: "lights"}))
	actions.Register(bus, "room.reset", func() error { return nil })
	return nil
}

// TestLayoutPlaced: declared dashboards first, "all" last; a conflict is
// logged once however often the layout is built again; the WebSocket sends
// the layout after the catalogue and again after a new placement.
func TestLayoutPlaced(t *testing.T) {
	logs := &lockedBuffer{}
	h := ipctest.New(ipctest.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	t.Cleanup(h.Close)
	room, err := h.Module("room", placedSetup)
	if err != nil {
		t.Fatal(err)
	}
	var s *dashboard.Server
	if _, err := h.Module("dashboard", func(ctx context.Context, bus *ipc.Bus) error {
		s, err = dashboard.New(bus)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})

	var l layoutJSON
	if st := do(t, "GET", ts.URL+"/api/layout", "", &l); st != 200 {
		t.Fatalf("GET /api/layout: %d", st)
	}
	var names []string
	for _, d := range l.Dashboards {
		names = append(names, d.Name)
	}
	if !reflect.DeepEqual(names, []string{"main", "cellar", "all"}) {
		t.Fatalf("dashboards %v, want main, cellar, all", names)
	}
	main := l.board(t, "main")
	if main.Title != "Home" || main.Width != 4 || main.Auto {
		t.Fatalf("main: %+v", main)
	}
	if got := ids(main.Header); !reflect.DeepEqual(got, []string{"room.light"}) || main.Header[0].Widget != "switch" {
		t.Fatalf("main header: %+v", main.Header)
	}
	if len(main.Panels) != 1 {
		t.Fatalf("main panels: %+v", main.Panels)
	}
	p := main.Panels[0]
	if p.Name != "climate" || p.Title != "Climate" || p.Width != 2 || !reflect.DeepEqual(ids(p.Widgets), []string{"room.hum", "room.temp", "room.wind"}) {
		t.Fatalf("climate panel (room.temp's declaration wins): %+v", p)
	}
	if w := p.Widgets[1]; w.Widget != "gauge" || w.Width != 2 || w.Options["color"] != "red" {
		t.Fatalf("room.temp widget: %+v", w)
	}
	all := l.board(t, "all")
	if !all.Auto || all.Title != "All components" || len(all.Panels) != 1 ||
		!reflect.DeepEqual(ids(all.Panels[0].Widgets), []string{"room.hum", "room.light", "room.reset", "room.temp", "room.wind"}) {
		t.Fatalf("all: %+v", all)
	}

	// The WebSocket: catalogue, then layout.
	c := dial(t, ts.URL)
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if m := c.next(rctx); m.T != "catalogue" {
		t.Fatalf("first message %q, want catalogue", m.T)
	}
	m := c.next(rctx)
	if m.T != "layout" || !reflect.DeepEqual(m.Layout, l) {
		t.Fatalf("second message %q: %+v, want the layout %+v", m.T, m.Layout, l)
	}

	// A component placed later: its entry, then the new layout (its panel
	// first: the layout is merged in the order of the ids).
	values.NewNumber(room, "room.co2", "CO2", values.Unit("ppm"), values.Output(), values.Initial(400.0),
		layout.Value(layout.Placement{Dashboard: "cellar", Panel: "air", Widget: "chart"}))
	entry := false
	m = c.until(5*time.Second, "a layout with room.co2", func(m msg) bool {
		if m.T == "entry" && m.Entry.ID == "room.co2" {
			entry = true
		}
		return m.T == "layout" && len(m.Layout.Dashboards) == 3 && len(m.Layout.board(t, "cellar").Panels) == 2
	})
	if !entry {
		t.Fatal("the layout came before room.co2's entry")
	}
	if p := m.Layout.board(t, "cellar").Panels[0]; p.Name != "air" || p.Widgets[0].ID != "room.co2" || p.Widgets[0].Widget != "chart" {
		t.Fatalf("cellar's air panel: %+v", p)
	}

	// Built again, for the REST API too; still one warning.
	if st := do(t, "GET", ts.URL+"/api/layout", "", &l); st != 200 || len(l.board(t, "cellar").Panels) != 2 {
		t.Fatalf("GET /api/layout after room.co2: %d %+v", st, l)
	}
	if n := strings.Count(logs.String(), "layout conflict"); n != 1 {
		t.Fatalf("conflict logged %d times, want once:\n%s", n, logs)
	}
	for _, want := range []string{`panel=climate`, `kept=room.temp`, `refused=room.wind`, `dashboard=main`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("conflict warning lacks %s:\n%s", want, logs)
		}
	}
}

// TestLayoutApp: in an application with module processes, the automatic
// dashboard leaves out kervi's own components (module health, the log
// feed), and the page is served beside the API.
func TestLayoutApp(t *testing.T) {
	_, url := startApp(t)
	var cat []ipc.Description
	if st := do(t, "GET", url+"/api/catalogue", "", &cat); st != 200 {
		t.Fatalf("GET /api/catalogue: %d", st)
	}
	kervis := 0
	for _, d := range cat {
		if strings.HasPrefix(d.ID, "kervi.") {
			kervis++
		}
	}
	if kervis == 0 {
		t.Fatal("the catalogue has no kervi.* components to leave out")
	}
	var l layoutJSON
	eventually(t, 10*time.Second, "the fan and load panels", func() error {
		if st := do(t, "GET", url+"/api/layout", "", &l); st != 200 {
			return fmt.Errorf("GET /api/layout: %d", st)
		}
		var names []string
		for _, d := range l.Dashboards {
			for _, p := range d.Panels {
				names = append(names, d.Name+"/"+p.Name)
				for _, w := range p.Widgets {
					if strings.HasPrefix(w.ID, "kervi.") {
						t.Fatalf("%s on the automatic dashboard", w.ID)
					}
				}
			}
		}
		if !reflect.DeepEqual(names, []string{"main/fan", "main/load"}) {
			return fmt.Errorf("panels %v", names)
		}
		return nil
	})
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
