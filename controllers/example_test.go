package controllers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
	"github.com/kervi/kervi-go/values"
)

// Lamp switches a light on when it is dark and someone is home.
type Lamp struct {
	*controllers.Controller
	lux   *values.Number
	home  *values.Bool
	light *values.Bool
}

// NewLamp creates the controller "lamp" with its inputs and output. A
// mistake, such as an invalid id, fails the module's setup with an error
// that names the value; l.Err() returns it too.
func NewLamp(bus *ipc.Bus) *Lamp {
	l := &Lamp{}
	l.Controller = controllers.New(bus, "lamp", "Lamp", l)
	l.lux = l.Inputs().Number("lux", "Light level", values.Unit("lx"), values.Initial(500))
	l.home = l.Inputs().Bool("home", "Someone home", values.Initial(false))
	l.light = l.Outputs().Bool("light", "Light", values.Initial(false))
	return l
}

// InputChanged runs after each change of lux or home, never concurrently
// with itself or the lamp's other hooks.
func (l *Lamp) InputChanged(ctx context.Context, in values.Value) {
	l.light.Set(l.home.Value() && l.lux.Value() < 50)
}

func Example() {
	home := kervi.Module{Name: "home", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		NewLamp(bus)
		return nil
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

// Heater keeps a room warm during the day: a schedule checks the room
// every 10 ms (every few minutes in real life), under the controller's
// lock, like its other callbacks.
type Heater struct {
	*controllers.Controller
	room   *values.Number
	heater *values.Bool
	checks int
}

func ExampleController_Schedule() {
	done := make(chan struct{})
	house := kervi.Module{Name: "house", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		h := &Heater{}
		h.Controller = controllers.New(bus, "heater", "Heater", h)
		h.room = h.Inputs().Number("room", "Room", values.Unit("°C"), values.Initial(17.0))
		h.heater = h.Outputs().Bool("on", "Heater on", values.Initial(false))
		job := h.Schedule(schedule.Every(10*time.Millisecond), func(ctx context.Context) error {
			h.checks++
			fmt.Println("check", h.checks, "heater on:", h.room.Value() < 19)
			return h.heater.Set(h.room.Value() < 19)
		}, schedule.StopWhen(func() bool { return h.checks == 2 })) // and at 22:00: schedule.At("22:00")
		go func() { <-job.Done(); close(done) }()
		return nil
	}}
	ctx, stop := context.WithCancel(context.Background())
	go func() { <-done; stop() }()
	app, err := kervi.NewApplication([]kervi.Module{house}, kervi.InProcess(),
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	if err := app.Run(ctx); err != nil {
		panic(err)
	}
	// Output:
	// check 1 heater on: true
	// check 2 heater on: true
}

// Pump counts the litres it pumped in a field of its own, derived from
// its output "pump.total", which kervi restores after a restart.
type Pump struct {
	*controllers.Controller
	total  *values.Number
	litres float64 // the controller's own state
}

// Restore rebuilds the pump's own field from its restored output after its
// module restarted; it runs before Start.
func (p *Pump) Restore(ctx context.Context) error {
	p.litres = p.total.Value()
	return nil
}

func ExampleRestorer() {
	pumps := kervi.Module{Name: "pumps", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		p := &Pump{}
		p.Controller = controllers.New(bus, "pump", "Pump", p)
		p.total = p.Outputs().Number("total", "Litres pumped", values.Unit("l"), values.Initial(0.0))
		p.Action("pump", func(litres float64) error {
			p.litres += litres
			return p.total.Set(p.litres)
		})
		return nil
	}}
	_ = pumps // a module of an application; see kervi.NewApplication
}
