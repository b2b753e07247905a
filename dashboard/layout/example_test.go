package layout_test

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

// Fan follows the CPU's temperature.
type Fan struct {
	*controllers.Controller
	temp, speed *values.Number
	active      *values.Bool
}

// The fan example, laid out from Go: each module places the components it
// creates, and Merge builds the dashboards from the catalogue, as the
// dashboard does.
func Example() {
	// The panel "fan" is declared once, with the first of its widgets.
	fanPanel := layout.Placement{Panel: "fan", PanelSpec: &layout.Spec{Title: "Fan", Order: 1, Width: 2}}
	gauge := fanPanel
	gauge.Widget, gauge.Options = layout.WidgetGauge, map[string]string{"color": "orange"}
	slider := layout.Placement{Panel: "fan", Widget: layout.WidgetSlider, Order: 1}

	controlSetup := func(ctx context.Context, bus *ipc.Bus) error {
		f := &Fan{}
		f.Controller = controllers.New(bus, "fan", "Fan", f)
		f.temp = f.Inputs().Number("temp", "Temperature", values.Range(0, 150))
		f.speed = f.Outputs().Number("speed", "Fan speed", values.Range(0, 100), values.Unit("%"),
			layout.Value(gauge))
		f.Inputs().Number("max_speed", "Maximum speed", values.Range(0, 100), values.Initial(100),
			layout.Value(slider))
		f.active = f.Outputs().Bool("active", "Active", values.Initial(false),
			layout.Value(layout.Placement{Panel: layout.Header, Widget: layout.WidgetSwitch}))
		f.Action("activate", func(ctx context.Context, on bool) error { return f.active.Set(on) },
			layout.Action(layout.Placement{Panel: "fan", Widget: layout.WidgetButton, Order: 2}))
		return f.Err()
	}
	sensorSetup := func(ctx context.Context, bus *ipc.Bus) error {
		cpu := fake.New(sensors.Description{Unit: "%", Min: new(0.0), Max: new(100.0)}, []float64{42})
		return sensors.New(bus, "cpu_load", "CPU", cpu, layout.Sensor(
			layout.Placement{Panel: "system", Widget: layout.WidgetChart,
				PanelSpec: &layout.Spec{Title: "System", Order: 2}},
			layout.Placement{Panel: layout.Footer, Widget: layout.WidgetSparkline},
		)).Err()
	}

	h := ipctest.New()
	defer h.Close()
	for name, setup := range map[string]func(context.Context, *ipc.Bus) error{"control": controlSetup, "sensors": sensorSetup} {
		if _, err := h.Module(name, setup); err != nil {
			fmt.Println(err)
			return
		}
	}
	dash, _ := h.Module("dashboard", nil)
	cat, err := dash.Catalogue(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	l := layout.Merge(cat)
	for _, d := range l.Dashboards {
		fmt.Printf("dashboard %q\n", d.Spec.Title)
		for _, w := range d.Header {
			fmt.Printf("  header: %s (%s)\n", w.ID, w.Placement.Widget)
		}
		for _, p := range d.Panels {
			fmt.Printf("  panel %q, width %d\n", p.Spec.Title, p.Spec.Width)
			for _, w := range p.Widgets {
				fmt.Printf("    %s (%s)\n", w.ID, w.Placement.Widget)
			}
		}
		for _, w := range d.Footer {
			fmt.Printf("  footer: %s (%s)\n", w.ID, w.Placement.Widget)
		}
	}
	// Output:
	// dashboard "main"
	//   header: fan.active (switch)
	//   panel "Fan", width 2
	//     fan.speed (gauge)
	//     fan.max_speed (slider)
	//     fan.activate (button)
	//   panel "System", width 0
	//     cpu_load (chart)
	//   footer: cpu_load (sparkline)
}
