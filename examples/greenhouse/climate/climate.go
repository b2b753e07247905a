// Package climate is the greenhouse example's climate module: a controller
// that keeps the air warm, fresh and lit, and asks the irrigation module
// to water when the soil is dry.
package climate

import (
	"context"
	"errors"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Module runs the climate controller in a process of its own. Its setup
// links the controller's inputs to the greenhouse's sensors, which live in
// another process. A link that cannot be made fails the setup, as a value
// that cannot be made does.
var Module = kervi.Module{Name: "climate", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	c := New(bus)
	c.AirTemp.Link("air.temperature", nil)
	c.Humidity.Link("air.humidity", nil)
	c.Soil.Link("soil.moisture", nil)
	// The light sensor reads lux; the controller works in percent of full sun.
	c.Light.Link("light", func(lux float64) float64 { return min(100, lux/1000) })
	return nil
}}

// Climate is the controller "climate": four measured inputs, two set
// points, a mode, and the heater, vent and lamp it drives.
type Climate struct {
	*controllers.Controller
	AirTemp, Humidity, Soil, Light *values.Number
	TargetTemp, DryBelow           *values.Number
	Mode                           *values.Enum
	Heater, Lamp                   *values.Bool
	Vent                           *values.Number

	watering bool // irrigation.water was called, and the watering has not ended
}

// New creates the controller with its ten values and its action. A
// mistake in them fails the module's setup with the first error.
func New(bus *ipc.Bus) *Climate {
	cl := &Climate{}
	cl.Controller = controllers.New(bus, "climate", "Climate", cl)
	in, out, pct := cl.Inputs(), cl.Outputs(), values.Unit("%")
	cl.AirTemp = in.Number("air_temp", "Air temperature", values.Unit("°C"), values.Range(-20, 60))
	cl.Humidity = in.Number("humidity", "Humidity", pct, values.Range(0, 100))
	cl.Soil = in.Number("soil", "Soil moisture", pct, values.Range(0, 100))
	cl.Light = in.Number("light", "Light", pct, values.Range(0, 100))
	cl.TargetTemp = in.Number("target_temp", "Target temperature", values.Unit("°C"), values.Range(5, 35), values.Initial(22))
	cl.DryBelow = in.Number("dry_below", "Water below", pct, values.Range(0, 100), values.Initial(30))
	cl.Mode = in.Enum("mode", "Mode", values.WithChoice("auto", "Automatic"), values.WithChoice("off", "Off"), values.Initial("auto"))
	cl.Heater = out.Bool("heater", "Heater")
	cl.Lamp = out.Bool("lamp", "Grow lamp")
	// InputChanged's opening of the vent is clamped to its range.
	cl.Vent = out.Number("vent", "Vent", pct, values.Range(0, 100), values.Clamp(), values.Initial(0))
	cl.Action("watered", cl.Watered)
	return cl
}

// InputChanged drives the heater, vent and lamp from the inputs, and asks
// the irrigation module for water when the soil is dry.
func (cl *Climate) InputChanged(ctx context.Context, in values.Value) {
	auto := cl.Mode.Value() == "auto"
	target, temp, humid := cl.TargetTemp.Value(), cl.AirTemp.Value(), cl.Humidity.Value()
	vent := 0.0 // 20 % per degree above the target, 5 % per point of humidity above 85 %
	if auto && (temp > target+2 || humid > 85) {
		vent = (temp-target)*20 + max(0, humid-85)*5
	}
	cl.Bus().ReportError(errors.Join( // nil, unless a write was refused
		cl.Heater.Set(auto && temp < target-1),
		cl.Vent.Set(vent),
		cl.Lamp.Set(auto && cl.Light.Value() < 20),
	))
	if auto && in == cl.Soil && cl.Soil.Value() < cl.DryBelow.Value() && !cl.watering {
		cl.watering = true
		// The call runs outside the controller's lock, which irrigation's
		// call of climate.watered needs; if it fails, no watering ends, so
		// the controller's own action clears the flag, under the lock.
		cl.Bus().Go(func(ctx context.Context) {
			if _, err := actions.Call(ctx, "irrigation.water", 30); err != nil {
				_, err2 := actions.Call(ctx, "climate.watered")
				cl.Bus().ReportError(errors.Join(err, err2))
			}
		})
	}
}

// Watered tells the controller that a watering it asked for ended.
func (cl *Climate) Watered() { cl.watering = false }
