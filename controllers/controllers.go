// Package controllers provides Controller, the base of components that
// react to inputs and drive outputs, such as a fan controller that follows
// a temperature.
//
// A controller type embeds *controllers.Controller, creates its inputs,
// outputs, actions and schedules through it, and implements any of
// InputChanger, Starter, Restorer and Exiter:
//
//	type Fan struct {
//		*controllers.Controller
//		temp, speed *values.Number
//	}
//
//	func NewFan(bus *ipc.Bus) *Fan {
//		f := &Fan{}
//		f.Controller = controllers.New(bus, "fan", "Fan", f)
//		f.temp = f.Inputs().Number("temp", "Temperature", values.Range(0, 150))
//		f.speed = f.Outputs().Number("speed", "Speed", values.Unit("%"))
//		f.Action("boost", f.Boost)
//		f.Schedule(schedule.Every(time.Minute), f.check)
//		return f
//	}
//
//	func (f *Fan) InputChanged(ctx context.Context, in values.Value) { ... }
//
// # Errors of creation
//
// The constructors return usable objects and no error, as bufio.Scanner
// does. The first error of the controller's creation, or of the creation of
// one of its values, actions or schedules (an invalid or taken id, an
// option that does not apply), is kept: Err returns it, and it is recorded
// on the module's bus (ipc.Bus.Fail), which fails the module's setup with
// the first such error if the setup returned nil. errors.Is keeps working
// on it (ipc.ErrInvalidID, ipc.ErrDuplicateID, ...). A value or action
// whose creation failed does nothing and returns its error (from Set, Err,
// ...). Created once the setup is over, the error also goes to the bus's
// error handler.
//
// # One callback at a time
//
// A controller's Restore, Start, InputChanged, Exit, the actions created
// with Controller.Action and the runs of its schedules (Controller.Schedule)
// never run at the same time, so they may share the controller's state
// without locks. Start runs when every module of the application is ready;
// calls from other processes wait until it returned. InputChanged is
// called only once the Start of every controller of the application
// returned, after each change of an input, in order. The input holds its
// latest content: changes that arrive while the controller is busy are
// coalesced per input, so a slow controller works on the current state,
// never a backlog of stale ones (use the value's OnChange to see every
// change). A change that arrives while InputChanged reads the input may be
// reported once more. Exit is called when the module stops, if Start was
// called, also when the module's parent process died; the controller's
// schedules stop before it. An action that must run while the controller
// is busy can be registered with actions.Register directly; it then shares
// no lock.
//
// # Panics and errors in callbacks
//
// A panic in InputChanged, Start, Restore, Exit or a run of a schedule is
// recovered: it is logged at error level on the module's logger, with the
// message "controller hook panicked" (for a schedule, "schedule panicked"),
// the controller's id, the callback's name, the panic's value and its
// stack, and the controller goes on: the next input change calls
// InputChanged again. The process does not crash and the module is not
// restarted. An error from Start or Restore is logged at error level; the
// controller runs on. An error or panic of a scheduled run also goes to
// the bus's error handler. A panic in an action is the caller's
// ipc.ErrPanic.
//
// # Restarts
//
// A module process that died is restarted (see package kervi), and its
// values take back the content they had (ipc.Bus.Restored): inputs and
// outputs alike, during the module's setup. The controller's own fields are
// not restored. A controller that derives fields from its values
// implements Restorer: after a restart, Restore is called once, after the
// module's setup and before Start, with the restored values in place, to
// rebuild them. Restarted reports whether the module was restarted.
package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
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

// Restorer is implemented by controllers that rebuild their own fields
// from their values after a restart of their module (see the package doc).
// Restore is called once per restarted process, after the module's setup
// returned and before Start, under the controller's lock, when the
// controller's inputs and outputs hold the content restored from the
// process that died. It is not called on the module's first start. An error
// is logged; the controller runs on.
type Restorer interface {
	Restore(ctx context.Context) error
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

	own error // of the controller's own creation; it then does nothing

	mu      sync.Mutex
	err     error // the first error of a creation
	queue   []values.Value
	queued  map[values.Value]bool
	wake    chan struct{}
	inputs  []values.Value
	outputs []values.Value
	jobs    []*schedule.Job
	started bool
}

// Option configures a Controller (see New).
type Option func(*config) error

type config struct {
	meta ipc.Meta
}

// Meta sets the entry key of the controller's metadata in the application's
// catalogue (ipc.Description.Meta) to value, for observers such as a
// dashboard; a later Meta with the same key replaces it. Keys are
// namespaced by their user, such as "dashboard" (see package
// dashboard/layout). A key or a value that ipc.ValidateMeta refuses makes
// New fail, naming the controller and the key. The controller's values and
// actions take their own metadata (values.Meta, actions.Meta).
func Meta(key, value string) Option {
	return func(c *config) error { return c.meta.Set(key, value) }
}

// New creates a controller with the given id and name. impl receives its
// hooks: it is usually the type that embeds the controller, and may
// implement InputChanger, Starter, Restorer and Exiter (or be nil).
//
// The creation fails if bus is nil or id is invalid (ipc.ErrInvalidID);
// the controller then records the error (see the package doc), and its
// values, actions and schedules do nothing. An option that fails (such as
// Meta with an invalid key) fails the creation the same way, naming the
// controller.
func New(bus *ipc.Bus, id, name string, impl any, opts ...Option) *Controller {
	c := &Controller{
		bus: bus, id: id, name: name, impl: impl,
		lock:  make(chan struct{}, 1),
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		ended: make(chan struct{}),
		wake:  make(chan struct{}, 1),

		queued: make(map[values.Value]bool),
	}
	if bus == nil {
		c.own = fmt.Errorf("controllers: %q: nil bus", id)
		c.err = c.own
		slog.Default().Error("kervi: a controller could not be created", "id", id, "error", c.own)
		return c
	}
	if err := ipc.ValidateID(id); err != nil {
		c.own = fmt.Errorf("controllers: %w", err)
		c.err = c.own
		bus.Fail(c.own)
		return c
	}
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			c.own = fmt.Errorf("controllers: controller %q: %w", id, err)
			c.err = c.own
			bus.Fail(c.own)
			return c
		}
	}
	if err := bus.Announce(ipc.Description{ID: id, Kind: ipc.KindController, Name: name, Meta: cfg.meta}); err != nil {
		c.own = fmt.Errorf("controllers: %w", err)
		c.err = c.own
		bus.Fail(c.own)
		return c
	}
	bus.OnStart(func(ctx context.Context) error {
		c.restore(ctx)
		bus.Go(c.run)
		return nil
	})
	bus.OnAppStart(c.start)
	bus.OnAppReady(func(context.Context) { close(c.ready) })
	bus.OnStop(c.exit)
	return c
}

// Err returns the first error of the creation of the controller, or of one
// of its values, actions or schedules; nil if there was none.
func (c *Controller) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// record keeps err, if it is the controller's first.
func (c *Controller) record(err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Restarted reports whether the controller's module was restarted and
// its values took back their content from the process that died: any of
// the controller's inputs or outputs has restored content (see
// ipc.Bus.Restored).
func (c *Controller) Restarted() bool {
	if c.own != nil {
		return false
	}
	c.mu.Lock()
	vals := append(append([]values.Value(nil), c.inputs...), c.outputs...)
	c.mu.Unlock()
	for _, v := range vals {
		if _, ok := c.bus.Restored(v.ID()); ok {
			return true
		}
	}
	return false
}

// restore calls Restore after a restart, once the setup returned.
func (c *Controller) restore(ctx context.Context) {
	r, ok := c.impl.(Restorer)
	if !ok || !c.Restarted() {
		return
	}
	if err := c.call(ctx, "Restore", func() error { return r.Restore(ctx) }); err != nil {
		c.bus.Logger().Error("controller restore failed", "controller", c.id, "error", err)
	}
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
// hooks and other actions. If the registration fails, the action and the
// controller record the error (see the package doc).
func (c *Controller) Action(id string, fn any, opts ...actions.Option) *actions.Action {
	if err := c.own; err != nil {
		return failed.Action(c.id+"."+id, id, err).(*actions.Action)
	}
	opts = append([]actions.Option{actions.Name(id), actions.Parent(c.id)}, opts...)
	opts = append(opts, actions.Guard(c.acquire))
	a := actions.Register(c.bus, c.id+"."+id, fn, opts...)
	c.record(a.Err())
	return a
}

// Schedule runs fn as spec says (see package schedule), under the
// controller's lock like its other callbacks, from when the application
// runs until the module stops or an option ends the schedule; the
// schedule stops before Exit is called. fn's context carries the bus and
// ends when the module stops. If the schedule cannot be made, the job and
// the controller record the error (see the package doc).
func (c *Controller) Schedule(spec schedule.Spec, fn func(ctx context.Context) error, opts ...schedule.Option) *schedule.Job {
	if err := c.own; err != nil {
		return failed.Job(err).(*schedule.Job)
	}
	opts = append([]schedule.Option{schedule.Name(c.id + ": " + spec.String())}, opts...)
	opts = append(opts, schedule.Guard(c.acquire))
	j := schedule.Run(c.bus, spec, fn, opts...)
	c.record(j.Err())
	c.mu.Lock()
	c.jobs = append(c.jobs, j)
	c.mu.Unlock()
	return j
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

// create makes a value with newValue, unless the controller failed, and
// records it: for an input, the controller starts following its changes.
// A value that could not be made does nothing; its error is recorded.
func create[V values.Value](v Values, typ ipc.Type, id, name string, opts []values.Option,
	newValue func(*ipc.Bus, string, string, ...values.Option) V) V {
	c := v.c
	vid := c.id + "." + id
	if err := c.own; err != nil {
		return failed.Value(typ, vid, name, v.input, err).(V)
	}
	val := newValue(c.bus, vid, name, v.opts(opts)...)
	if err := val.Err(); err != nil {
		c.record(fmt.Errorf("controllers: %q: %w", c.id, err))
		return val
	}
	c.mu.Lock()
	if v.input {
		c.inputs = append(c.inputs, val)
	} else {
		c.outputs = append(c.outputs, val)
	}
	c.mu.Unlock()
	if v.input {
		if _, err := c.bus.Subscribe(val.ID(), func(ipc.Event) { c.changed(val) }); err != nil {
			err = fmt.Errorf("controllers: %q: %w", c.id, err)
			c.record(err)
			c.bus.Fail(err)
		}
	}
	return val
}

// Number creates a number input or output (see values.NewNumber).
func (v Values) Number(id, name string, opts ...values.Option) *values.Number {
	return create(v, ipc.TypeNumber, id, name, opts, values.NewNumber)
}

// Bool creates a bool input or output (see values.NewBool).
func (v Values) Bool(id, name string, opts ...values.Option) *values.Bool {
	return create(v, ipc.TypeBool, id, name, opts, values.NewBool)
}

// String creates a string input or output (see values.NewString).
func (v Values) String(id, name string, opts ...values.Option) *values.String {
	return create(v, ipc.TypeString, id, name, opts, values.NewString)
}

// Enum creates an enum input or output (see values.NewEnum).
func (v Values) Enum(id, name string, opts ...values.Option) *values.Enum {
	return create(v, ipc.TypeEnum, id, name, opts, values.NewEnum)
}

// DateTime creates a datetime input or output (see values.NewDateTime).
func (v Values) DateTime(id, name string, opts ...values.Option) *values.DateTime {
	return create(v, ipc.TypeDateTime, id, name, opts, values.NewDateTime)
}

// Color creates a color input or output (see values.NewColor).
func (v Values) Color(id, name string, opts ...values.Option) *values.Color {
	return create(v, ipc.TypeColor, id, name, opts, values.NewColor)
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

// exit stops the loop and the schedules, and calls Exit if Start was
// called.
func (c *Controller) exit(ctx context.Context) error {
	close(c.stop)
	c.mu.Lock()
	started := c.started
	jobs := c.jobs
	c.mu.Unlock()
	for _, j := range jobs { // a run waiting for the lock gives up
		j.Stop()
	}
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
