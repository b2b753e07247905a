// Package climate is the greenhouse example's climate module: a controller
// that keeps the air warm, fresh and lit, and asks the irrigation module
// to water when the soil is dry.
package climate

import (
	"context"
	"fmt"
	"log/slog"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Module runs the climate controller in a process of its own.
var Module = kervi.Module{Name: "climate", Setup: Setup}

// Setup creates the controller and links its inputs to the greenhouse's
// sensors, which live in another process.
func Setup(ctx context.Context, bus *ipc.Bus) error {
	c, err := New(bus)
	if err != nil {
		return err
	}
	if _, err := c.AirTemp.Link("air.temperature", nil); err != nil {
		return err
	}
	if _, err := c.Humidity.Link("air.humidity", nil); err != nil {
		return err
	}
	if _, err := c.Soil.Link("soil.moisture", nil); err != nil {
		return err
	}
	// The light sensor reads lux; the controller works in percent of full sun.
	_, err = c.Light.Link("light", func(lux float64) float64 { return min(100, lux/1000) })
	return err
}

// Climate is the controller "climate": four measured inputs, two set
// points, a mode, and the heater, vent and lamp it drives.
type Climate struct {
	*controllers.Controller
	AirTemp, Humidity, Soil, Light *values.Number
	TargetTemp, DryBelow           *values.Number
	Mode                           *values.Enum
	Heater, Lamp                   *values.Bool
	Vent                           *values.Number

	watering bool
}

// New creates the controller with its ten values and its action.
func New(bus *ipc.Bus) (*Climate, error) {
	cl := &Climate{}
	c, err := controllers.New(bus, "climate", "Climate", cl)
	if err != nil {
		return nil, err
	}
	cl.Controller = c
	in, out := c.Inputs(), c.Outputs()
	if cl.AirTemp, err = in.Number("air_temp", "Air temperature", values.Unit("°C"), values.Range(-20, 60)); err != nil {
		return nil, err
	}
	if cl.Humidity, err = in.Number("humidity", "Humidity", values.Unit("%"), values.Range(0, 100)); err != nil {
		return nil, err
	}
	if cl.Soil, err = in.Number("soil", "Soil moisture", values.Unit("%"), values.Range(0, 100)); err != nil {
		return nil, err
	}
	if cl.Light, err = in.Number("light", "Light", values.Unit("%"), values.Range(0, 100)); err != nil {
		return nil, err
	}
	if cl.TargetTemp, err = in.Number("target_temp", "Target temperature", values.Unit("°C"), values.Range(5, 35), values.Initial(22)); err != nil {
		return nil, err
	}
	if cl.DryBelow, err = in.Number("dry_below", "Water below", values.Unit("%"), values.Range(0, 100), values.Initial(30)); err != nil {
		return nil, err
	}
	if cl.Mode, err = in.Enum("mode", "Mode", values.WithChoice("auto", "Automatic"), values.WithChoice("off", "Off"), values.Initial("auto")); err != nil {
		return nil, err
	}
	if cl.Heater, err = out.Bool("heater", "Heater"); err != nil {
		return nil, err
	}
	if cl.Lamp, err = out.Bool("lamp", "Grow lamp"); err != nil {
		return nil, err
	}
	if cl.Vent, err = out.Number("vent", "Vent", values.Unit("%"), values.Range(0, 100), values.Initial(0)); err != nil {
		return nil, err
	}
	if _, err = c.Action("watered", cl.Watered); err != nil {
		return nil, err
	}
	return cl, nil
}

// InputChanged drives the heater, vent and lamp from the inputs, and asks
// the irrigation module for water when the soil is dry.
func (cl *Climate) InputChanged(ctx context.Context, in values.Value) {
	auto := cl.Mode.Value() == "auto"
	target := cl.TargetTemp.Value()
	temp := cl.AirTemp.Value()
	if err := cl.Heater.Set(auto && temp < target-1); err != nil {
		cl.Logger().Error("heater", "error", err)
	}
	vent := 0.0
	if auto && (temp > target+2 || cl.Humidity.Value() > 85) {
		vent = min(100, (temp-target)*20+max(0, cl.Humidity.Value()-85)*5)
	}
	if err := cl.Vent.Set(max(0, vent)); err != nil {
		cl.Logger().Error("vent", "error", err)
	}
	if err := cl.Lamp.Set(auto && cl.Light.Value() < 20); err != nil {
		cl.Logger().Error("lamp", "error", err)
	}
	if auto && in == cl.Soil && cl.Soil.Value() < cl.DryBelow.Value() && !cl.watering {
		cl.watering = true
		bus := cl.Bus()
		bus.Go(func(ctx context.Context) {
			if _, err := actions.Call(ctx, "irrigation.water", 30); err != nil {
				cl.Logger().Error("watering", "error", err)
				if _, err := actions.Call(ctx, "climate.watered"); err != nil {
					cl.Logger().Error("watering", "error", err)
				}
			}
		})
	}
}

// Watered tells the controller that a watering it asked for ended.
func (cl *Climate) Watered(ctx context.Context) error {
	cl.watering = false
	return nil
}

// Logger returns the module's logger.
func (cl *Climate) Logger() *slog.Logger { return cl.Bus().Logger() }

// String describes the climate for logs.
func (cl *Climate) String() string {
	return fmt.Sprintf("%.1f°C, heater %v, vent %.0f%%", cl.AirTemp.Value(), cl.Heater.Value(), cl.Vent.Value())
}
