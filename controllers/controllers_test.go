package controllers_test

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// thermostat turns a heater on below a set point while active.
type thermostat struct {
	*controllers.Controller
	temp   *values.Number
	heater *values.Bool
	active bool

	inCallback atomic.Int32 // callbacks running now
	overlap    atomic.Bool  // two callbacks ever ran at once
	changes    chan float64
	exited     chan struct{}
	started    chan struct{}
}

func newThermostat(bus *ipc.Bus) (*thermostat, error) {
	th := &thermostat{changes: make(chan float64, 100), exited: make(chan struct{}), started: make(chan struct{})}
	c, err := controllers.New(bus, "thermostat", "Thermostat", th)
	if err != nil {
		return nil, err
	}
	th.Controller = c
	if th.temp, err = c.Inputs().Number("temp", "Temperature", values.Range(-40, 60)); err != nil {
		return nil, err
	}
	if th.heater, err = c.Outputs().Bool("heater", "Heater", values.Initial(false)); err != nil {
		return nil, err
	}
	if _, err = c.Action("activate", th.activate); err != nil {
		return nil, err
	}
	return th, nil
}

func (th *thermostat) enter() func() {
	if th.inCallback.Add(1) > 1 {
		th.overlap.Store(true)
	}
	return func() { th.inCallback.Add(-1) }
}

func (th *thermostat) activate(active bool) error {
	defer th.enter()()
	th.active = active
	return th.heater.Set(active && th.temp.Value() < 20)
}

func (th *thermostat) Start(ctx context.Context) error {
	defer th.enter()()
	close(th.started)
	return nil
}

func (th *thermostat) InputChanged(ctx context.Context, in values.Value) {
	defer th.enter()()
	if in != th.temp {
		return
	}
	th.heater.Set(th.active && th.temp.Value() < 20)
	th.changes <- th.temp.Value()
}

func (th *thermostat) Exit(ctx context.Context) error {
	defer th.enter()()
	close(th.exited)
	return th.heater.Set(false)
}

func TestControllerLifecycle(t *testing.T) {
	h := testbus.New(t)
	h.Bus("controllers", nil)
	other := h.Bus("sensors", nil)
	var th *thermostat
	if err := h.Setup("controllers", func(ctx context.Context, b *ipc.Bus) (err error) {
		th, err = newThermostat(b)
		if err != nil {
			return err
		}
		_, err = th.temp.Link("room", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	room, _ := values.NewNumber(other, "room", "Room", values.Output())
	h.Setup("sensors", nil)

	// Before the application is ready, changes reach the input but not
	// InputChanged.
	heater := make(chan bool, 100)
	other.Subscribe("thermostat.heater", func(ev ipc.Event) { heater <- ev.Value.Bool() })
	if v := testbus.Wait(t, heater, "initial heater"); v {
		t.Fatal("heater starts on")
	}
	room.Set(25)
	testbus.Eventually(t, "the link", func() bool { return th.temp.Value() == 25 })
	h.Start()
	testbus.Wait(t, th.started, "Start")
	select {
	case v := <-th.changes:
		t.Fatalf("InputChanged(%v) called for a change before the app was ready", v)
	default:
	}

	ctx := other.Context()
	if _, err := other.Call(ctx, "thermostat.activate", true); err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // input changes and actions interleave, never overlap
		room.Set(float64(i))
		if i%10 == 0 {
			other.Call(ctx, "thermostat.activate", i < 40)
		}
	}
	// Changes made while the controller is busy are coalesced: it sees
	// the inputs' contents in order, ending with the latest. (It may see
	// content twice: a change that arrives while InputChanged reads the
	// input is reported again.)
	for last := -1.0; last != 49; {
		v := testbus.Wait(t, th.changes, "change")
		if v < last {
			t.Fatalf("InputChanged saw %v after %v", v, last)
		}
		last = v
	}
	if th.overlap.Load() {
		t.Fatal("two callbacks of one controller ran at once")
	}
	room.Set(5)
	testbus.Wait(t, th.changes, "change")
	if err := other.Set(ctx, "thermostat.heater", true); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("setting an output: %v", err)
	}
	if err := other.Set(ctx, "thermostat.temp", 99); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("setting temp out of range: %v", err)
	}
	h.Stop("controllers")
	select {
	case <-th.exited:
	default:
		t.Fatal("Exit not called on stop")
	}
	if in := th.InputValues(); len(in) != 1 || in[0].ID() != "thermostat.temp" {
		t.Fatalf("inputs %v", in)
	}
	if out := th.OutputValues(); len(out) != 1 || out[0].ID() != "thermostat.heater" {
		t.Fatalf("outputs %v", out)
	}
}

func TestNoExitWithoutStart(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	var th *thermostat
	h.Setup("m", func(ctx context.Context, b *ipc.Bus) (err error) {
		th, err = newThermostat(b)
		return err
	})
	h.Stop("m")
	select {
	case <-th.exited:
		t.Fatal("Exit called although the controller never started")
	default:
	}
}

func TestNewErrors(t *testing.T) {
	h := testbus.New(t)
	b := h.Bus("m", nil)
	if _, err := controllers.New(b, "has space", "X", nil); !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}
	c, _ := controllers.New(b, "c", "C", nil)
	c.Inputs().Number("x", "X")
	if _, err := c.Outputs().Bool("x", "X"); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("duplicate: %v", err)
	}
}

// A controller is an entry of the catalogue, and its inputs, outputs and
// actions are its children; its id is its own.
func TestControllerInCatalogue(t *testing.T) {
	h := testbus.New(t)
	b := h.Bus("m", nil)
	if _, err := newThermostat(b); err != nil {
		t.Fatal(err)
	}
	if _, err := controllers.New(b, "thermostat", "Again", nil); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("a second controller with the id: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries, err := b.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range entries {
		got[d.ID] = d.Kind.String() + " " + d.Name + " parent=" + d.Parent
	}
	want := map[string]string{
		"thermostat":          "controller Thermostat parent=",
		"thermostat.temp":     "value Temperature parent=thermostat",
		"thermostat.heater":   "value Heater parent=thermostat",
		"thermostat.activate": "action activate parent=thermostat",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("catalogue %v, want %v", got, want)
	}
}
