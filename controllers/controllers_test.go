package controllers_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
	"github.com/kervi/kervi-go/schedule/scheduletest"
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

func newThermostat(bus *ipc.Bus) *thermostat {
	th := &thermostat{changes: make(chan float64, 100), exited: make(chan struct{}), started: make(chan struct{})}
	th.Controller = controllers.New(bus, "thermostat", "Thermostat", th)
	th.temp = th.Inputs().Number("temp", "Temperature", values.Range(-40, 60))
	th.heater = th.Outputs().Bool("heater", "Heater", values.Initial(false))
	th.Action("activate", th.activate)
	return th
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
	if err := h.Setup("controllers", func(ctx context.Context, b *ipc.Bus) error {
		th = newThermostat(b)
		_, err := th.temp.Link("room", nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	room := values.NewNumber(other, "room", "Room", values.Output())
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
	h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		th = newThermostat(b)
		return nil
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
	bad := controllers.New(b, "has space", "X", nil)
	if err := bad.Err(); !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}
	// The values, actions and schedules of a controller that could not be
	// made do nothing, return its error and register nothing.
	x := bad.Inputs().Number("x", "X")
	if x.Err() != bad.Err() || x.Set(1) != bad.Err() || x.ID() != "has space.x" || !x.IsInput() {
		t.Fatalf("value of a failed controller: %v %q", x.Err(), x.ID())
	}
	if a := bad.Action("go", func() {}); a.Err() != bad.Err() || a.ID() != "has space.go" {
		t.Fatalf("action of a failed controller: %v %q", a.Err(), a.ID())
	}
	j := bad.Schedule(schedule.Every(time.Second), func(context.Context) error { return nil })
	if j.Err() != bad.Err() {
		t.Fatalf("schedule of a failed controller: %v", j.Err())
	}
	select {
	case <-j.Done():
	default:
		t.Fatal("the schedule of a failed controller is not done")
	}
	if bad.Restarted() {
		t.Fatal("a failed controller was restarted")
	}

	c := controllers.New(b, "c", "C", nil)
	c.Inputs().Number("x", "X")
	dup := c.Outputs().Bool("x", "X")
	if !errors.Is(dup.Err(), ipc.ErrDuplicateID) {
		t.Fatalf("duplicate: %v", dup.Err())
	}
	// The controller keeps its first error, naming it; the bus its own.
	if err := c.Err(); !errors.Is(err, ipc.ErrDuplicateID) || !strings.Contains(err.Error(), `controllers: "c"`) {
		t.Fatalf("controller error %v", err)
	}
	c.Action("x y", func() {})
	c.Schedule(schedule.Every(0), func(context.Context) error { return nil })
	if !errors.Is(c.Err(), ipc.ErrDuplicateID) {
		t.Fatalf("controller error %v, want the first", c.Err())
	}
	if len(c.InputValues()) != 1 || len(c.OutputValues()) != 0 {
		t.Fatalf("inputs %v, outputs %v", c.InputValues(), c.OutputValues())
	}
	// The module's setup fails with the first error of all.
	if err := h.Setup("m", nil); !errors.Is(err, ipc.ErrInvalidID) || !strings.Contains(err.Error(), `"has space"`) {
		t.Fatalf("setup: %v", err)
	}
}

// logRecords is a slog handler that sends the messages and attributes of
// its records to a channel.
type logRecords chan map[string]string

func (l logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logRecords) WithGroup(string) slog.Handler            { return l }
func (l logRecords) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	select {
	case l <- m:
	default:
	}
	return nil
}

// fragile panics in InputChanged for some contents of its input.
type fragile struct {
	*controllers.Controller
	in   *values.Number
	seen chan float64
}

func (f *fragile) InputChanged(ctx context.Context, in values.Value) {
	if f.in.Value() < 0 {
		panic("negative reading")
	}
	f.seen <- f.in.Value()
}

// A panic in InputChanged is recovered and logged with its stack; the
// controller goes on, and the next change calls InputChanged again.
func TestPanicInInputChanged(t *testing.T) {
	h := testbus.New(t)
	logs := make(logRecords, 100)
	h.BusWith("m", plumb.BusOptions{Logger: slog.New(logs)})
	other := h.Bus("other", nil)
	f := &fragile{seen: make(chan float64, 10)}
	if err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		f.Controller = controllers.New(b, "fragile", "Fragile", f)
		f.in = f.Inputs().Number("in", "In")
		return f.Err()
	}); err != nil {
		t.Fatal(err)
	}
	h.Run()
	ctx := other.Context()
	if err := other.Set(ctx, "fragile.in", -1); err != nil {
		t.Fatal(err)
	}
	for {
		r := testbus.Wait(t, logs, "the panic's log")
		if r["msg"] != "controller hook panicked" {
			continue
		}
		if r["level"] != "ERROR" || r["controller"] != "fragile" || r["hook"] != "InputChanged" ||
			r["panic"] != "negative reading" || !strings.Contains(r["stack"], "InputChanged") {
			t.Fatalf("log record %v", r)
		}
		break
	}
	if err := other.Set(ctx, "fragile.in", 5); err != nil {
		t.Fatal(err)
	}
	if v := testbus.Wait(t, f.seen, "the next change"); v != 5 {
		t.Fatalf("InputChanged saw %v after the panic", v)
	}
}

// gardener waters on a schedule, under its lock, until told to stop.
type gardener struct {
	*controllers.Controller
	moisture *values.Number
	water    *values.Number
	watering *schedule.Job
	done     bool // set by the action "done"; read by StopWhen

	busy    atomic.Int32
	overlap atomic.Bool
	runs    chan float64
	exited  chan struct{}
}

func (g *gardener) enter() func() {
	if g.busy.Add(1) > 1 {
		g.overlap.Store(true)
	}
	return func() { g.busy.Add(-1) }
}

func (g *gardener) InputChanged(ctx context.Context, in values.Value) {
	defer g.enter()()
}

func (g *gardener) Exit(ctx context.Context) error {
	defer g.enter()()
	close(g.exited)
	return nil
}

// A controller's schedule runs under the controller's lock, never beside
// its actions or InputChanged; StopWhen reads the controller's fields
// under the same lock; the schedule stops before Exit.
func TestScheduleUnderTheLock(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	other := h.Bus("other", nil)
	clock := scheduletest.NewClock(time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC))
	g := &gardener{runs: make(chan float64, 100), exited: make(chan struct{})}
	if err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		g.Controller = controllers.New(b, "garden", "Garden", g)
		g.moisture = g.Inputs().Number("moisture", "Moisture", values.Initial(10.0))
		g.water = g.Outputs().Number("water", "Water given", values.Initial(0.0))
		g.Action("done", func() { defer g.enter()(); g.done = true })
		g.Action("poke", func() { defer g.enter()() })
		g.watering = g.Schedule(schedule.Every(time.Minute), func(ctx context.Context) error {
			defer g.enter()()
			g.runs <- g.moisture.Value()
			return g.water.Set(g.water.Value() + 1)
		}, schedule.WithClock(clock), schedule.StopWhen(func() bool { return g.done }))
		return g.Err()
	}); err != nil {
		t.Fatal(err)
	}
	h.Run()
	ctx := other.Context()
	for i := range 5 {
		if err := clock.WaitTimers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
		for range 5 { // actions and input changes while the run runs
			other.Call(ctx, "garden.poke")
			other.Set(ctx, "garden.moisture", float64(20+i))
		}
		testbus.Wait(t, g.runs, "a run")
	}
	if g.overlap.Load() {
		t.Fatal("a scheduled run ran beside another callback of its controller")
	}
	if _, err := other.Call(ctx, "garden.done"); err != nil {
		t.Fatal(err)
	}
	if err := clock.WaitTimers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	testbus.Wait(t, g.watering.Done(), "the end of the schedule (StopWhen)")
	select {
	case v := <-g.runs:
		t.Fatalf("a run after StopWhen held (moisture %v)", v)
	default:
	}
	if g.water.Value() != 5 {
		t.Fatalf("water %v after 5 runs", g.water.Value())
	}
	h.Stop("m")
	testbus.Wait(t, g.exited, "Exit")
}

// The schedules of a controller stop before its Exit: no run starts after
// Exit was called.
func TestScheduleStopsBeforeExit(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	clock := scheduletest.NewClock(time.Date(2026, 7, 1, 6, 0, 0, 0, time.UTC))
	g := &gardener{runs: make(chan float64, 100), exited: make(chan struct{})}
	var afterExit atomic.Bool
	if err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		g.Controller = controllers.New(b, "garden", "Garden", g)
		g.watering = g.Schedule(schedule.Every(time.Minute), func(ctx context.Context) error {
			select {
			case <-g.exited:
				afterExit.Store(true)
			default:
			}
			return nil
		}, schedule.WithClock(clock))
		return g.Err()
	}); err != nil {
		t.Fatal(err)
	}
	h.Run()
	if err := clock.WaitTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	h.Stop("m")
	clock.Advance(time.Hour)
	testbus.Wait(t, g.watering.Done(), "the end of the schedule")
	if afterExit.Load() {
		t.Fatal("a scheduled run ran after Exit")
	}
}

// A controller is an entry of the catalogue, and its inputs, outputs and
// actions are its children; its id is its own.
func TestControllerInCatalogue(t *testing.T) {
	h := testbus.New(t)
	b := h.Bus("m", nil)
	if err := newThermostat(b).Err(); err != nil {
		t.Fatal(err)
	}
	if err := controllers.New(b, "thermostat", "Again", nil).Err(); !errors.Is(err, ipc.ErrDuplicateID) {
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
