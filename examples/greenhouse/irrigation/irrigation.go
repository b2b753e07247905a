// Package irrigation is the greenhouse example's irrigation module: a pump
// that waters for a given time when asked, from any module.
package irrigation

import (
	"context"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
	"github.com/kervi/kervi-go/values"
)

// Module runs the irrigation in a process of its own.
var Module = kervi.Module{Name: "irrigation", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	p := &Pump{}
	p.Controller = controllers.New(bus, "irrigation", "Irrigation", p)
	p.Pump = p.Outputs().Bool("pump", "Pump")
	p.Until = p.Outputs().DateTime("until", "Watering until")
	p.Action("water", p.Water)
	p.Schedule(schedule.Every(time.Second), p.check)
	return nil
}}

// Pump is the controller "irrigation": its output pump, its action water
// and the time the current watering ends.
type Pump struct {
	*controllers.Controller
	Pump  *values.Bool
	Until *values.DateTime
}

// Water runs the pump for the given number of seconds, from now: a call
// while the pump runs sets a new end.
func (p *Pump) Water(ctx context.Context, seconds float64) error {
	until := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	if err := p.Until.Set(until); err != nil {
		return err
	}
	if err := p.Pump.Set(true); err != nil {
		return err
	}
	p.Bus().Logger().Info("watering", "until", until.Format(time.TimeOnly))
	return nil
}

// check switches the pump off once its time is up, and tells the climate
// controller that the watering ended.
func (p *Pump) check(ctx context.Context) error {
	if !p.Pump.Value() || time.Now().Before(p.Until.Value()) {
		return nil
	}
	if err := p.Pump.Set(false); err != nil {
		return err
	}
	p.Bus().Logger().Info("watering done")
	_, err := actions.Call(ctx, "climate.watered")
	return err
}

// Exit stops the pump when the module stops.
func (p *Pump) Exit(ctx context.Context) error { return p.Pump.Set(false) }
