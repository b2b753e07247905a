package layout_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

func TestEncodeDecode(t *testing.T) {
	ps := []layout.Placement{
		{Dashboard: "main", Panel: "climate", Widget: layout.WidgetGauge, Order: 2, Width: 3,
			Options:       map[string]string{"color": "red"},
			DashboardSpec: &layout.Spec{Title: "Main", Order: 1},
			PanelSpec:     &layout.Spec{Title: "Climate", Order: -1, Width: 6}},
		{Panel: layout.Header},
	}
	s := layout.Encode(ps...)
	got, err := layout.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("decoded %+v; want %+v", got, ps)
	}
	if s := layout.Encode(); s != "[]" {
		t.Errorf("Encode() = %q; want []", s)
	}
	if _, err := layout.Decode(`{"panel":"x"}`); !errors.Is(err, layout.ErrInvalid) {
		t.Errorf("Decode of an object: %v; want ErrInvalid", err)
	}
	_, err = layout.Of(ipc.Description{ID: "fan.speed", Kind: ipc.KindValue, Meta: map[string]string{layout.MetaKey: "x"}})
	if !errors.Is(err, layout.ErrInvalid) || !strings.Contains(err.Error(), `"fan.speed"`) {
		t.Errorf("Of: %v; want ErrInvalid naming the component", err)
	}
	if ps, err := layout.Of(ipc.Description{ID: "x"}); ps != nil || err != nil {
		t.Errorf("Of without placements: %v, %v", ps, err)
	}
}

var (
	climate = layout.Placement{Dashboard: "main", Panel: "climate", Widget: layout.WidgetGauge,
		PanelSpec: &layout.Spec{Title: "Climate", Width: 2}}
	header = layout.Placement{Panel: layout.Header, Widget: layout.WidgetSwitch}
)

// setup creates a component of each kind, placed.
func setup(ctx context.Context, bus *ipc.Bus) error {
	values.NewNumber(bus, "room.temp", "Temperature", layout.Value(climate, layout.Placement{Dashboard: "all"}))
	actions.Register(bus, "fan.boost", func() error { return nil }, layout.Action(header))
	controllers.New(bus, "fan", "Fan", nil, layout.Controller(layout.Placement{Panel: "fan"}))
	sensors.New(bus, "cpu", "CPU", fake.New(sensors.Description{Unit: "%"}, []float64{1}),
		layout.Sensor(layout.Placement{Panel: layout.Footer, Widget: layout.WidgetSparkline}))
	return nil
}

// The placements travel with the components' descriptions in the
// catalogue, also after their module restarts.
func TestCatalogue(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("room", setup); err != nil {
		t.Fatal(err)
	}
	dash, err := h.Module("dashboard", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]layout.Placement{
		"room.temp": {climate, {Dashboard: "all"}},
		"fan.boost": {header},
		"fan":       {{Panel: "fan"}},
		"cpu":       {{Panel: layout.Footer, Widget: layout.WidgetSparkline}},
	}
	check := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for id, w := range want {
			d, err := dash.Describe(ctx, id)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, id, err)
			}
			ps, err := layout.Of(d)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ps, w) {
				t.Errorf("%s: %s placed %+v; want %+v", when, id, ps, w)
			}
		}
	}
	check("at first")
	if err := h.Crash("room"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Module("room", setup); err != nil {
		t.Fatal(err)
	}
	check("after a restart")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cat, err := dash.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := layout.Merge(cat)
	if len(l.Conflicts) != 0 || len(l.Errors) != 0 {
		t.Errorf("conflicts %v, errors %v", l.Conflicts, l.Errors)
	}
	var names []string
	for _, d := range l.Dashboards {
		names = append(names, d.Name)
	}
	if !reflect.DeepEqual(names, []string{"main", "all"}) && !reflect.DeepEqual(names, []string{"all", "main"}) {
		t.Errorf("dashboards %v; want main and all", names)
	}
}
