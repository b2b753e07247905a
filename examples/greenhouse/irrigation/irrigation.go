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
	"github.com/kervi/kervi-go/values"
)

// Module runs the irrigation in a process of its own.
var Module = kervi.Module{Name: "irrigation", Setup: Setup}

// Pump is the controller "irrigation": its output pump, its action water
// and the time the current watering ends.
type Pump struct {
	*controllers.Controller
	Pump  *values.Bool
	Until *values.DateTime
}

// Setup creates the pump controller, and a ticker that switches the pump
// off when a watering's time is up.
func Setup(ctx context.Context, bus *ipc.Bus) error {
	p := &Pump{}
	c, err := controllers.New(bus, "irrigation", "Irrigation", p)
	if err != nil {
		return err
	}
	p.Controller = c
	if p.Pump, err = c.Outputs().Bool("pump", "Pump"); err != nil {
		return err
	}
	if p.Until, err = c.Outputs().DateTime("until", "Watering until"); err != nil {
		return err
	}
	if _, err = c.Action("water", p.Water); err != nil {
		return err
	}
	if _, err = c.Action("check", p.Check); err != nil {
		return err
	}
	bus.Go(func(ctx context.Context) {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := actions.Call(ctx, "irrigation.check"); err != nil {
					bus.Logger().Error("irrigation check", "error", err)
				}
			}
		}
	})
	return nil
}

// Water runs the pump for the given number of seconds.
func (p *Pump) Water(ctx context.Context, seconds float64) error {
	if err := p.Until.Set(time.Now().Add(time.Duration(seconds * float64(time.Second)))); err != nil {
		return err
	}
	return p.Pump.Set(true)
}

// Check switches the pump off once its time is up, and tells the climate
// controller that the watering ended.
func (p *Pump) Check(ctx context.Context) error {
	if !p.Pump.Value() || time.Now().Before(p.Until.Value()) {
		return nil
	}
	if err := p.Pump.Set(false); err != nil {
		return err
	}
	_, err := actions.Call(ctx, "climate.watered")
	return err
}

// Exit stops the pump when the module stops.
func (p *Pump) Exit(ctx context.Context) error { return p.Pump.Set(false) }
