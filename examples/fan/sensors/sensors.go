// Package sensors is the fan example's sensor module: the CPU load, read
// every second.
package sensors

import (
	"context"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/devices/system"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

// Module runs the sensors in a process of their own; its setup creates the
// sensor with id "cpu_load", placed on the dashboard as a chart of its
// history on the panel "cpu" and as a value in the header.
var Module = kervi.Module{Name: "sensors", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	chart := layout.Placement{Panel: "cpu", Widget: layout.WidgetChart,
		DashboardSpec: &layout.Spec{Title: "Fan"},
		PanelSpec:     &layout.Spec{Title: "CPU load", Order: 2, Width: 2}}
	header := layout.Placement{Panel: layout.Header, Widget: layout.WidgetValue}
	return sensors.New(bus, "cpu_load", "CPU", system.NewCPULoad(), layout.Sensor(chart, header)).Err()
}}
