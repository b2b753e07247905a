// Package controllers is the fan example's controller module: a fan
// controller whose temperature input follows the sensor "cpu_load", which
// lives in another process.
package controllers

import (
	"context"
	"log/slog"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Module runs the controllers in a process of their own.
var Module = kervi.Module{Name: "controllers", Setup: Setup}

// Setup creates the fan controller and links its temp input to the sensor
// "cpu_load". The sensor lives in another process; the link is made by id.
func Setup(ctx context.Context, bus *ipc.Bus) error {
	fan, err := NewFanController(bus)
	if err != nil {
		return err
	}
	_, err = fan.Temp.Link("cpu_load", nil)
	return err
}

// FanController sets the fan's speed from a temperature while it is
// active; inactive, the fan stands still.
type FanController struct {
	*controllers.Controller
	// Temp is the input "fan_controller.temp" (0..150).
	Temp *values.Number
	// FanSpeed is the output "fan_controller.fan_speed" (0..100 %).
	FanSpeed *values.Number
	active   bool
}

// NewFanController creates the controller "fan_controller" with its input,
// its output and the action "fan_controller.activate".
func NewFanController(bus *ipc.Bus) (*FanController, error) {
	fc := &FanController{}
	c, err := controllers.New(bus, "fan_controller", "Fan", fc)
	if err != nil {
		return nil, err
	}
	fc.Controller = c
	if fc.Temp, err = c.Inputs().Number("temp", "Temperature", values.Range(0, 150)); err != nil {
		return nil, err
	}
	if fc.FanSpeed, err = c.Outputs().Number("fan_speed", "Fan speed", values.Unit("%"), values.Range(0, 100), values.Initial(0)); err != nil {
		return nil, err
	}
	if _, err = c.Action("activate", fc.Activate); err != nil {
		return nil, err
	}
	return fc, nil
}

// Activate switches the controller on or off; the speed follows at once.
func (fc *FanController) Activate(ctx context.Context, active bool) error {
	fc.active = active
	fc.Logger().Info("fan controller", "active", active)
	return fc.update()
}

// InputChanged recomputes the speed when the temperature changes.
func (fc *FanController) InputChanged(ctx context.Context, in values.Value) {
	if in == fc.Temp {
		if err := fc.update(); err != nil {
			fc.Logger().Error("setting the fan speed", "error", err)
		}
	}
}

// Exit stops the fan when the module stops, if app_exit has not already.
func (fc *FanController) Exit(ctx context.Context) error {
	if !fc.active {
		return nil
	}
	fc.active = false
	return fc.update()
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
	if fc.active {
		speed = Speed(fc.Temp.Value())
	}
	fc.Logger().Info("fan", "temp", round1(fc.Temp.Value()), "fan_speed", round1(speed))
	return fc.FanSpeed.Set(speed)
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// Logger returns the module's logger.
func (fc *FanController) Logger() *slog.Logger { return fc.Bus().Logger() }
