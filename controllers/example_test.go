package controllers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Lamp switches a light on when it is dark and someone is home.
type Lamp struct {
	*controllers.Controller
	lux   *values.Number
	home  *values.Bool
	light *values.Bool
}

// NewLamp creates the controller "lamp" with its inputs and output.
func NewLamp(bus *ipc.Bus) (*Lamp, error) {
	l := &Lamp{}
	c, err := controllers.New(bus, "lamp", "Lamp", l)
	if err != nil {
		return nil, err
	}
	l.Controller = c
	if l.lux, err = c.Inputs().Number("lux", "Light level", values.Unit("lx"), values.Initial(500)); err != nil {
		return nil, err
	}
	if l.home, err = c.Inputs().Bool("home", "Someone home", values.Initial(false)); err != nil {
		return nil, err
	}
	if l.light, err = c.Outputs().Bool("light", "Light", values.Initial(false)); err != nil {
		return nil, err
	}
	return l, nil
}

// InputChanged runs after each change of lux or home, never concurrently
// with itself or the lamp's other hooks.
func (l *Lamp) InputChanged(ctx context.Context, in values.Value) {
	l.light.Set(l.home.Value() && l.lux.Value() < 50)
}

func Example() {
	home := kervi.Module{Name: "home", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		_, err := NewLamp(bus)
		return err
	}}
	ctx, stop := context.WithCancel(context.Background())
	app, err := kervi.NewApplication([]kervi.Module{home},
		kervi.InProcess(), // for the example; modules usually get processes of their own
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		kervi.WithAppMain(func(ctx context.Context) error {
			defer stop()
			bus, _ := ipc.FromContext(ctx)
			light := make(chan bool, 10)
			bus.Subscribe("lamp.light", func(ev ipc.Event) { light <- ev.Value.Bool() })
			fmt.Println("light:", <-light)
			// Any process can set the inputs by id.
			bus.Set(ctx, "lamp.home", true)
			bus.Set(ctx, "lamp.lux", 12)
			for on := false; !on; on = <-light {
			}
			fmt.Println("light: true")
			return nil
		}))
	if err != nil {
		panic(err)
	}
	if err := app.Run(ctx); err != nil {
		panic(err)
	}
	// Output:
	// light: false
	// light: true
}
