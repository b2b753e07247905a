// Package controllers provides Controller, the base of components that
// react to inputs and drive outputs, such as a fan controller that follows
// a temperature.
//
// A controller type embeds *controllers.Controller, creates its inputs,
// outputs and actions through it, and implements any of InputChanger,
// Starter and Exiter:
//
//	type Fan struct {
//		*controllers.Controller
//		temp, speed *values.Number
//	}
//
//	func NewFan(bus *ipc.Bus) (*Fan, error) {
//		f := &Fan{}
//		c, err := controllers.New(bus, "fan", "Fan", f)
//		...
//		f.Controller = c
//		f.temp, err = c.Inputs().Number("temp", "Temperature", values.Range(0, 150))
//		f.speed, err = c.Outputs().Number("speed", "Speed", values.Unit("%"))
//		_, err = c.Action("boost", f.Boost)
//	}
//
//	func (f *Fan) InputChanged(ctx context.Context, in values.Value) { ... }
//
// # One callback at a time
//
// A controller's Start, InputChanged, Exit and the actions created with
// Controller.Action never run at the same time, so they may share the
// controller's state without locks. Start runs when every module of the
// application is ready; calls from other processes wait until it returned.
// InputChanged is called only once the Start of every controller of the
// application returned, after each change of an input, in order. The input
// holds its latest content: changes that arrive while the controller is
// busy are coalesced per input, so a slow controller works on the current
// state, never a backlog of stale ones (use the value's OnChange to see
// every change). A change that arrives while InputChanged reads the input
// may be reported once more. Exit is called when the module stops, if Start
// was called, also when the module's parent process died. An action that
// must run while the controller is busy can be registered with
// actions.Register directly; it then shares no lock.
package controllers

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// InputChanger is implemented by controllers that react to their inputs.
type InputChanger interface {
	InputChanged(ctx context.Context, in values.Value)
}

// Starter is implemented by controllers that need to act when the
// application is ready. An error is logged; the controller runs on.
type Starter interface {
	Start(ctx context.Context) error
}

// Exiter is implemented by controllers that need to act when the module
// stops, such as switching a motor off. ctx carries the stop deadline.
type Exiter interface {
	Exit(ctx context.Context) error
}

// Controller is the part every controller shares: its id, its inputs,
// outputs and actions, and the goroutine that calls its hooks.
type Controller struct {
	bus  *ipc.Bus
	id   string
	name string
	impl any

	lock  chan struct{} // held while a hook or an action runs
	ready chan struct{} // closed when the application is ready
	stop  chan struct{} // closed when the module stops
	ended chan struct{} // closed when the loop returned

	mu      sync.Mutex
	queue   []values.Value
	queued  map[values.Value]bool
	wake    chan struct{}
	inputs  []values.Value
	outputs []values.Value
	started bool
}

// New creates a controller with the given id and name. impl receives its
// hooks: it is usually the type that embeds the controller, and may
// implement InputChanger, Starter and Exiter (or be nil).
func New(bus *ipc.Bus, id, name string, impl any) (*Controller, error) {
	if bus == nil {
		return nil, fmt.Errorf("controllers: %q: nil bus", id)
	}
	if err := ipc.ValidateID(id); err != nil {
		return nil, fmt.Errorf("controllers: %w", err)
	}
	c := &Controller{
		bus: bus, id: id, name: name, impl: impl,
		lock:  make(chan struct{}, 1),
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		ended: make(chan struct{}),
		wake:  make(chan struct{}, 1),

		queued: make(map[values.Value]bool),
	}
	if err := bus.Announce(ipc.Description{ID: id, Kind: ipc.KindController, Name: name}); err != nil {
		return nil, fmt.Errorf("controllers: %w", err)
	}
	bus.OnStart(func(context.Context) error {
		bus.Go(c.run)
		return nil
	})
	bus.OnAppStart(c.start)
	bus.OnAppReady(func(context.Context) { close(c.ready) })
	bus.OnStop(c.exit)
	return c, nil
}

// start calls Start, when every module of the application is ready; the
// application runs once the Start of every controller returned.
func (c *Controller) start(ctx context.Context) error {
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	if s, ok := c.impl.(Starter); ok {
		if err := c.call(ctx, "Start", func() error { return s.Start(ctx) }); err != nil {
			c.bus.Logger().Error("controller start failed", "controller", c.id, "error", err)
		}
	}
	return nil
}

// ID returns the controller's id.
func (c *Controller) ID() string { return c.id }

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Bus returns the bus of the controller's process.
func (c *Controller) Bus() *ipc.Bus { return c.bus }

// Inputs returns the builder of the controller's inputs.
func (c *Controller) Inputs() Values { return Values{c: c, input: true} }

// Outputs returns the builder of the controller's outputs.
func (c *Controller) Outputs() Values { return Values{c: c} }

// InputValues returns the controller's inputs, in order of creation.
func (c *Controller) InputValues() []values.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]values.Value(nil), c.inputs...)
}

// OutputValues returns the controller's outputs, in order of creation.
func (c *Controller) OutputValues() []values.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]values.Value(nil), c.outputs...)
}

// Action registers fn as the action "<controller id>.<id>" (see
// actions.Register). It runs one call at a time with the controller's
// hooks and other actions.
func (c *Controller) Action(id string, fn any, opts ...actions.Option) (*actions.Action, error) {
	opts = append([]actions.Option{actions.Name(id), actions.Parent(c.id)}, opts...)
	opts = append(opts, actions.Guard(c.acquire))
	return actions.Register(c.bus, c.id+"."+id, fn, opts...)
}

// acquire takes the controller's lock, giving up when ctx ends.
func (c *Controller) acquire(ctx context.Context) (func(), error) {
	select {
	case c.lock <- struct{}{}:
		return func() { <-c.lock }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Values creates a controller's inputs or outputs. Their ids are
// "<controller id>.<id>".
type Values struct {
	c     *Controller
	input bool
}

func (v Values) opts(opts []values.Option) []values.Option {
	dir := values.Output()
	if v.input {
		dir = values.Input()
	}
	return append(append([]values.Option{values.Parent(v.c.id)}, opts...), dir)
}

// add records a new value and, for an input, starts following its changes.
func (v Values) add(val values.Value, err error) error {
	if err != nil {
		return fmt.Errorf("controllers: %q: %w", v.c.id, err)
	}
	c := v.c
	c.mu.Lock()
	if v.input {
		c.inputs = append(c.inputs, val)
	} else {
		c.outputs = append(c.outputs, val)
	}
	c.mu.Unlock()
	if v.input {
		if _, err := c.bus.Subscribe(val.ID(), func(ipc.Event) { c.changed(val) }); err != nil {
			return fmt.Errorf("controllers: %q: %w", c.id, err)
		}
	}
	return nil
}

// created records a value just made, or returns the error that kept it
// from being made.
func created[V values.Value](v Values, val V, err error) (V, error) {
	if err := v.add(val, err); err != nil {
		var zero V
		return zero, err
	}
	return val, nil
}

// Number creates a number input or output.
func (v Values) Number(id, name string, opts ...values.Option) (*values.Number, error) {
	n, err := values.NewNumber(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, n, err)
}

// Bool creates a bool input or output.
func (v Values) Bool(id, name string, opts ...values.Option) (*values.Bool, error) {
	b, err := values.NewBool(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, b, err)
}

// String creates a string input or output.
func (v Values) String(id, name string, opts ...values.Option) (*values.String, error) {
	s, err := values.NewString(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, s, err)
}

// Enum creates an enum input or output.
func (v Values) Enum(id, name string, opts ...values.Option) (*values.Enum, error) {
	e, err := values.NewEnum(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, e, err)
}

// DateTime creates a datetime input or output.
func (v Values) DateTime(id, name string, opts ...values.Option) (*values.DateTime, error) {
	d, err := values.NewDateTime(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, d, err)
}

// Color creates a color input or output.
func (v Values) Color(id, name string, opts ...values.Option) (*values.Color, error) {
	col, err := values.NewColor(v.c.bus, v.c.id+"."+id, name, v.opts(opts)...)
	return created(v, col, err)
}

// changed queues an input change for InputChanged, once the application is
// ready; it runs on the bus's dispatch goroutine and never blocks.
func (c *Controller) changed(in values.Value) {
	if !c.bus.AppReady() {
		return
	}
	if _, ok := c.impl.(InputChanger); !ok {
		return
	}
	c.mu.Lock()
	if !c.queued[in] {
		c.queued[in] = true
		c.queue = append(c.queue, in)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run calls InputChanged for each queued change once the application runs
// (after every controller's Start), until the module stops.
func (c *Controller) run(ctx context.Context) {
	defer close(c.ended)
	select {
	case <-c.ready:
	case <-c.stop:
		return
	case <-ctx.Done():
		return
	}
	ic, _ := c.impl.(InputChanger)
	reported := make(map[values.Value]time.Time)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		clear(c.queued)
		c.mu.Unlock()
		for _, in := range batch {
			select {
			case <-c.stop:
				return
			default:
			}
			// A change queued while InputChanged ran may already have
			// been seen there; call only for content not yet reported.
			if ts := in.Timestamp(); !ts.After(reported[in]) {
				continue
			} else {
				reported[in] = ts
			}
			_ = c.call(ctx, "InputChanged", func() error { ic.InputChanged(ctx, in); return nil })
		}
	}
}

// call runs a hook under the controller's lock, turning a panic into an
// error.
func (c *Controller) call(ctx context.Context, hook string, fn func() error) (err error) {
	release, err := c.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	defer func() {
		if r := recover(); r != nil {
			c.bus.Logger().Error("controller hook panicked", "controller", c.id, "hook", hook,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("controllers: %q: %s panicked: %v", c.id, hook, r)
		}
	}()
	return fn()
}

// exit stops the loop and calls Exit if Start was called.
func (c *Controller) exit(ctx context.Context) error {
	close(c.stop)
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if !started {
		return nil
	}
	select { // let the InputChanged in progress finish
	case <-c.ended:
	case <-ctx.Done():
		return fmt.Errorf("controllers: %q: %w waiting for InputChanged to return", c.id, ctx.Err())
	}
	if e, ok := c.impl.(Exiter); ok {
		if err := c.call(ctx, "Exit", func() error { return e.Exit(ctx) }); err != nil {
			return fmt.Errorf("controllers: %q: exit: %w", c.id, err)
		}
	}
	return nil
}
