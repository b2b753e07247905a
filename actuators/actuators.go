// Package actuators turns writes of input values into hardware writes: a
// relay, a PWM channel, a motor or a servo is a value that any process of
// the application (a controller's link, the dashboard, another module) can
// set by id, and the actuator writes each accepted change to its driver.
//
// # Writes
//
// An actuator is an input value at its id (values.Number or values.Bool).
// Every change of the value is written to the driver, in the order of the
// changes, one write at a time: a write never starts before the previous
// one returned. When changes come faster than the hardware takes them, the
// ones that pile up during a write collapse into the latest, which is
// written next (latest wins); the hardware always ends in the value's last
// content. A change to the content the hardware was last written
// successfully (or is being written) is not written again. Each write gets a context that ends after the write timeout
// (WriteTimeout) or when the module stops.
//
// A failed write (an error, or a panic of the driver) is logged as a
// warning on the bus's logger, the first time and each time its message
// changes, and kept as the actuator's Fault until a write succeeds, which
// is logged as info; it never crashes the module. The value keeps the
// content that was written to it: the value says what was asked, Fault
// says whether the hardware took it.
//
// # Start and safe state
//
// When the module starts (a bus start hook), the hardware is written its
// starting state: the value's content, which is Initial if given, else
// Safe, or, in a module restarted after a crash, the content the value had
// (see values). An actuator with neither writes nothing until its first
// change.
//
// When the module stops, the actuator stops taking changes, waits for the
// write in flight, then writes Safe (if given) to the hardware. Stop hooks
// run on every stop of a module: asked by the application, and when the
// parent process dies (a SIGKILL of the application included: on Linux the
// kernel signals the module process, which runs its stop hooks within the
// application's stop timeout), so a relay declared Safe(false) is off once
// the module is gone.
//
// # Errors of creation
//
// NewNumber and NewBool return a usable actuator and no error, as the value
// constructors do: an invalid or taken id, a bad option or a Safe or
// Initial out of the value's range records the error on the module's bus
// (ipc.Bus.Fail), which fails the module's setup, and returns it from Err.
// Such an actuator never writes its driver.
package actuators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// NumberDriver writes numbers to hardware: a PWM duty cycle, a servo
// angle, a motor speed.
type NumberDriver interface {
	// WriteNumber sets the hardware to v, which is within the actuator's
	// range. It should return when ctx ends.
	WriteNumber(ctx context.Context, v float64) error
}

// BoolDriver writes booleans to hardware: a relay, a GPIO pin, an LED.
type BoolDriver interface {
	// WriteBool sets the hardware to v. It should return when ctx ends.
	WriteBool(ctx context.Context, v bool) error
}

// NumberFunc adapts a function to a NumberDriver.
type NumberFunc func(ctx context.Context, v float64) error

// WriteNumber calls f(ctx, v).
func (f NumberFunc) WriteNumber(ctx context.Context, v float64) error { return f(ctx, v) }

// BoolFunc adapts a function to a BoolDriver.
type BoolFunc func(ctx context.Context, v bool) error

// WriteBool calls f(ctx, v).
func (f BoolFunc) WriteBool(ctx context.Context, v bool) error { return f(ctx, v) }

// DefaultWriteTimeout bounds a hardware write unless WriteTimeout says
// otherwise.
const DefaultWriteTimeout = 5 * time.Second

// Option configures an actuator.
type Option func(*config) error

type config struct {
	safe, initial any // nil when not given
	valueOpts     []values.Option
	writeTimeout  time.Duration
}

// Safe declares the actuator's safe state: a number for a Number actuator,
// a bool for a Bool one. It is written to the hardware when the module
// stops, including when the application's process dies, and at the start
// when there is no Initial.
func Safe(v any) Option {
	return func(c *config) error {
		if v == nil {
			return errors.New("nil safe state")
		}
		c.safe = v
		return nil
	}
}

// Initial sets the actuator's value, and so the hardware, at the module's
// start: a number for a Number actuator, a bool for a Bool one. Default:
// the safe state.
func Initial(v any) Option {
	return func(c *config) error {
		if v == nil {
			return errors.New("nil initial state")
		}
		c.initial = v
		return nil
	}
}

// Values passes options to the actuator's value: its unit, range, Clamp,
// metadata (values.Meta, dashboard/layout) and so on. values.Initial,
// values.Input and values.Output do not apply (use Initial; an actuator is
// an input).
func Values(opts ...values.Option) Option {
	return func(c *config) error {
		c.valueOpts = append(c.valueOpts, opts...)
		return nil
	}
}

// WriteTimeout bounds each hardware write; it must be positive. Default:
// DefaultWriteTimeout.
func WriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("write timeout %v is not positive", d)
		}
		c.writeTimeout = d
		return nil
	}
}

// Number is an actuator driven by a number value. Its methods are safe for
// concurrent use.
type Number struct {
	v *values.Number
	core[float64]
}

// NewNumber creates the actuator id, named name, whose number value is
// written to drv (see the package doc). It belongs in the module's setup.
// Options: Safe, Initial, Values, WriteTimeout.
func NewNumber(bus *ipc.Bus, id, name string, drv NumberDriver, opts ...Option) *Number {
	a := &Number{}
	var write func(context.Context, float64) error
	if drv != nil {
		write = drv.WriteNumber
	}
	a.v = create(&a.core, bus, id, name, write, drv == nil, opts,
		func(vopts []values.Option) *values.Number { return values.NewNumber(bus, id, name, vopts...) },
		func(v *values.Number, x float64) error { return v.Check(x) })
	return a
}

// Value returns the actuator's value. An actuator whose creation failed
// returns a value that does nothing.
func (a *Number) Value() *values.Number { return a.v }

// Set sets the actuator's value, as a write from another process does.
func (a *Number) Set(v float64) error {
	if a.err != nil {
		return a.err
	}
	return a.v.Set(v)
}

// Bool is an actuator driven by a bool value. Its methods are safe for
// concurrent use.
type Bool struct {
	v *values.Bool
	core[bool]
}

// NewBool creates the actuator id, named name, whose bool value is written
// to drv (see the package doc). It belongs in the module's setup. Options:
// Safe, Initial, Values, WriteTimeout.
func NewBool(bus *ipc.Bus, id, name string, drv BoolDriver, opts ...Option) *Bool {
	a := &Bool{}
	var write func(context.Context, bool) error
	if drv != nil {
		write = drv.WriteBool
	}
	a.v = create(&a.core, bus, id, name, write, drv == nil, opts,
		func(vopts []values.Option) *values.Bool { return values.NewBool(bus, id, name, vopts...) },
		func(*values.Bool, bool) error { return nil })
	return a
}

// Value returns the actuator's value. An actuator whose creation failed
// returns a value that does nothing.
func (a *Bool) Value() *values.Bool { return a.v }

// Set sets the actuator's value, as a write from another process does.
func (a *Bool) Set(v bool) error {
	if a.err != nil {
		return a.err
	}
	return a.v.Set(v)
}

// value is what core needs of a value.
type value[T any] interface {
	Err() error
	Value() T
	Any() any
	Timestamp() time.Time
}

// core is the part of an actuator that does not depend on its type.
type core[T float64 | bool] struct {
	bus          *ipc.Bus
	id           string
	write        func(context.Context, T) error
	safe         *T
	writeTimeout time.Duration
	err          error // of the creation

	mu       sync.Mutex
	pending  *T               // the latest change not yet written
	wake     chan struct{}    // has a token when pending is set
	started  bool             // the start hook ran
	current  func() (T, bool) // the value's content, and whether it has one
	wrote    *T               // the last content written successfully
	inFlight *T               // the content being written
	stopped  bool             // the module stops: changes are no longer taken
	idle     chan struct{}    // closed when no write is in flight
	fault    error
	failures int
	lastMsg  string
	writes   uint64
}

// create makes the actuator's value and hooks; it returns the value (a
// value that does nothing if the creation failed).
func create[T float64 | bool, V value[T]](c *core[T], bus *ipc.Bus, id, name string, write func(context.Context, T) error, nilDriver bool,
	opts []Option, newValue func([]values.Option) V, check func(V, T) error) V {
	c.bus, c.id, c.write = bus, id, write
	c.wake = make(chan struct{}, 1)
	c.idle = make(chan struct{})
	close(c.idle)
	fail := func(err error) V {
		c.err = err
		if bus == nil {
			slog.Default().Error("kervi: an actuator could not be created", "id", id, "error", err)
		} else {
			bus.Fail(err)
		}
		return failedValue[V](id, name, err)
	}
	errf := func(format string, args ...any) error {
		return fmt.Errorf("actuators: actuator %q: "+format, append([]any{id}, args...)...)
	}
	if bus == nil {
		return fail(errf("nil bus"))
	}
	if nilDriver {
		return fail(errf("nil driver"))
	}
	cfg := config{writeTimeout: DefaultWriteTimeout}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return fail(errf("%w", err))
		}
	}
	c.writeTimeout = cfg.writeTimeout
	var zero T
	conv := func(what string, x any) (T, error) {
		if t, ok := x.(T); ok {
			return t, nil
		}
		if _, isNumber := any(zero).(float64); isNumber {
			switch n := x.(type) {
			case int:
				return any(float64(n)).(T), nil
			case float32:
				return any(float64(n)).(T), nil
			}
		}
		return zero, errf("%s %v (%T) is not a %T", what, x, x, zero)
	}
	vopts := append([]values.Option{values.Input()}, cfg.valueOpts...)
	var init *T
	if cfg.safe != nil {
		s, err := conv("safe state", cfg.safe)
		if err != nil {
			return fail(err)
		}
		c.safe, init = &s, &s
	}
	if cfg.initial != nil {
		i, err := conv("initial state", cfg.initial)
		if err != nil {
			return fail(err)
		}
		init = &i
	}
	if init != nil {
		vopts = append(vopts, values.Initial(*init))
	}
	v := newValue(vopts)
	if err := v.Err(); err != nil {
		c.err = fmt.Errorf("actuators: actuator %q: %w", id, err) // recorded by the value
		return v
	}
	if c.safe != nil {
		if err := check(v, *c.safe); err != nil {
			return fail(errf("safe state: %w", err))
		}
	}
	c.current = func() (T, bool) { return v.Value(), v.Any() != nil }
	if _, err := bus.Subscribe(id, func(ipc.Event) { c.submit() }); err != nil {
		return fail(errf("%w", err))
	}
	bus.OnStart(func(context.Context) error {
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
		c.submit() // the starting state
		bus.Go(c.run)
		return nil
	})
	bus.OnStop(c.stop)
	return v
}

// failedValue returns a value that does nothing and reports err.
func failedValue[V any](id, name string, err error) V {
	var v V
	typ := ipc.TypeBool
	if _, ok := any(v).(*values.Number); ok {
		typ = ipc.TypeNumber
	}
	return failed.Value(typ, id, name, true, err).(V)
}

// signal wakes the writing goroutine; c.mu is held.
func (c *core[T]) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// submit takes a change of the value: the value's content is to be
// written, replacing any content not written yet. Reading the content
// rather than taking the event's makes the hardware converge on the value's
// last content whatever the order of the events. A content equal to the
// last one written successfully is not written again.
func (c *core[T]) submit() {
	x, ok := c.current()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || !c.started || !ok {
		return
	}
	has := c.wrote
	if c.inFlight != nil {
		has = c.inFlight
	}
	if has != nil && *has == x {
		c.pending = nil // the hardware has it, or is getting it: anything that piled up is superseded
		return
	}
	c.pending = &x
	c.signal()
}

// run writes the changes until ctx ends.
func (c *core[T]) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.mu.Lock()
		if c.stopped || c.pending == nil {
			c.mu.Unlock()
			continue
		}
		x := *c.pending
		c.pending = nil
		done := make(chan struct{})
		c.idle, c.inFlight = done, &x
		c.mu.Unlock()
		c.writeOne(ctx, x)
		c.mu.Lock()
		c.inFlight = nil
		c.mu.Unlock()
		close(done)
	}
}

// writeOne writes x to the driver within the write timeout and records the
// outcome.
func (c *core[T]) writeOne(ctx context.Context, x T) {
	wctx, cancel := context.WithTimeout(ctx, c.writeTimeout)
	defer cancel()
	err := c.call(wctx, x)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	log := c.bus.Logger()
	if err != nil {
		c.fault, c.wrote = err, nil
		c.failures++
		if msg := err.Error(); c.failures == 1 || msg != c.lastMsg {
			c.lastMsg = msg
			log.Warn("actuator write failed", "actuator", c.id, "value", x, "error", err)
		}
		return
	}
	if c.failures > 0 {
		log.Info("actuator recovered", "actuator", c.id, "failures", c.failures)
	}
	c.fault, c.failures, c.lastMsg, c.wrote = nil, 0, "", &x
}

// call calls the driver, turning a panic into an error.
func (c *core[T]) call(ctx context.Context, x T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actuators: actuator %q: driver panicked writing %v: %v", c.id, x, r)
		}
	}()
	if err := c.write(ctx, x); err != nil {
		return fmt.Errorf("actuators: actuator %q: write %v: %w", c.id, x, err)
	}
	return nil
}

// stop is the stop hook: no more changes, wait for the write in flight,
// then write the safe state.
func (c *core[T]) stop(ctx context.Context) error {
	c.mu.Lock()
	c.stopped = true
	c.pending = nil
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return fmt.Errorf("actuators: actuator %q: the write in flight did not end before the stop deadline; safe state not written: %w", c.id, ctx.Err())
	}
	if c.safe == nil {
		return nil
	}
	c.writeOne(ctx, *c.safe)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault != nil {
		return fmt.Errorf("actuators: actuator %q: safe state: %w", c.id, c.fault)
	}
	return nil
}

// ID returns the actuator's id.
func (c *core[T]) ID() string { return c.id }

// Err returns the error that kept the actuator from being created, or nil.
func (c *core[T]) Err() error { return c.err }

// Fault returns the error of the last hardware write if it failed, and nil
// after a successful one. An actuator whose creation failed returns that
// error.
func (c *core[T]) Fault() error {
	if c.err != nil {
		return c.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fault
}

// Writes returns the number of hardware writes so far, failed ones
// included.
func (c *core[T]) Writes() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}
