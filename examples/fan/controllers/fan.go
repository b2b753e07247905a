// Package controllers is the fan example's controller module: a fan
// controller whose temperature input follows the sensor "cpu_load", which
// lives in another process.
package controllers

import (
	"context"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Module runs the controllers in a process of their own. Its setup creates
// the fan controller and links its temp input to the sensor "cpu_load",
// which lives in another process: the link is made by id. A mistake in the
// controller's ids or options fails the setup with the first error.
var Module = kervi.Module{Name: "controllers", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	_, err := NewFanController(bus).Temp.Link("cpu_load", nil)
	return err
}}

// FanController sets the fan's speed from a temperature while it is
// active, never above a limit; inactive, the fan stands still. Its inputs
// are "fan_controller.temp" (0..150) and "fan_controller.max_speed"
// (0..100 %, which nothing links: a user sets it), its outputs
// "fan_controller.fan_speed" (0..100 %) and "fan_controller.active", which
// shows what the action "fan_controller.activate" did (and, restored after
// a restart, keeps the controller active).
type FanController struct {
	*controllers.Controller
	Temp, MaxSpeed, FanSpeed *values.Number
	Active                   *values.Bool
}

// fanPanel places a component on the panel "fan" of the default
// dashboard, with the widget and in the order given.
func fanPanel(widget string, order int) layout.Placement {
	return layout.Placement{Panel: "fan", Widget: widget, Order: order}
}

// NewFanController creates the controller "fan_controller" with its
// inputs, outputs and action, placed on the dashboard: the speed as a
// gauge, the limit as a slider (with its number entry), the temperature it
// follows as a value, and the action as a switch in the header that shows
// whether the controller is active.
func NewFanController(bus *ipc.Bus) *FanController {
	fc := &FanController{}
	fc.Controller = controllers.New(bus, "fan_controller", "Fan", fc)
	pct := []values.Option{values.Unit("%"), values.Range(0, 100)}
	gauge := fanPanel(layout.WidgetGauge, 0)
	gauge.PanelSpec = &layout.Spec{Title: "Fan", Order: 1} // the panel is declared once, here
	fc.Temp = fc.Inputs().Number("temp", "Temperature", values.Range(0, 150),
		layout.Value(fanPanel(layout.WidgetValue, 1)))
	slider := fanPanel(layout.WidgetSlider, 2)
	slider.Options = map[string]string{"step": "1"} // whole percents
	fc.MaxSpeed = fc.Inputs().Number("max_speed", "Maximum speed", append(pct, values.Initial(100),
		layout.Value(slider))...)
	fc.FanSpeed = fc.Outputs().Number("fan_speed", "Fan speed", append(pct, values.Initial(0),
		layout.Value(gauge, layout.Placement{Panel: layout.Footer, Widget: layout.WidgetSparkline}))...)
	fc.Active = fc.Outputs().Bool("active", "Active", values.Initial(false))
	fc.Action("activate", fc.Activate, layout.Action(layout.Placement{Panel: layout.Header,
		Widget: layout.WidgetSwitch, Options: map[string]string{"state": "fan_controller.active"}}))
	return fc
}

// Activate switches the controller on or off; the speed follows at once.
func (fc *FanController) Activate(ctx context.Context, active bool) error {
	fc.Bus().Logger().Info("fan controller", "active", active)
	if err := fc.Active.Set(active); err != nil {
		return err
	}
	return fc.update()
}

// InputChanged recomputes the speed when the temperature changes.
func (fc *FanController) InputChanged(ctx context.Context, in values.Value) {
	if err := fc.update(); err != nil {
		fc.Bus().Logger().Error("setting the fan speed", "error", err)
	}
}

// Exit stops the fan when the module stops, if app_exit has not already.
func (fc *FanController) Exit(ctx context.Context) error {
	if fc.Active.Value() {
		return fc.Activate(ctx, false)
	}
	return nil
}

// Speed is the fan speed in percent for a temperature: still up to 20°,
// then temp/80 of full speed, full speed from 80° on.
func Speed(temp float64) float64 {
	if temp <= 20 {
		return 0
	}
	return min(100, temp/80*100)
}

func (fc *FanController) update() error {
	speed := 0.0
	if fc.Active.Value() {
		speed = min(Speed(fc.Temp.Value()), fc.MaxSpeed.Value())
	}
	fc.Bus().Logger().Info("fan", "temp", round1(fc.Temp.Value()), "fan_speed", round1(speed))
	return fc.FanSpeed.Set(speed)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
