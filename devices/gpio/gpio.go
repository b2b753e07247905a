// Package gpio makes GPIO pins values: an input pin is a Bool output value
// that follows the pin's edges (not polled), an output pin is a Bool
// actuator, and a PWM pin is a Number actuator (duty cycle in %).
//
// Pins are named as Raspberry Pi users name them: by their Broadcom number
// ("GPIO17", "BCM17", "17") or by their position on the 40-pin header
// ("P1_11", the header's pin 11, which is GPIO17). Lookup runs periph's
// host init (devices/host.Init) and goes through periph's gpioreg, so any
// pin periph registers works too; and every constructor takes any periph
// gpio.PinIO, such as a pin of a GPIO expander (MCP23017, PCF8574) or
// gpiotest's fake pins.
//
// Open pins in a module's setup, never at import. On Linux the process
// needs access to /dev/gpiochip* (and /dev/gpiomem for periph's fast
// bcm283x driver): on Raspberry Pi OS, membership of group gpio.
package gpio

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/pin/pinreg"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/host"
	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// ErrNoPin matches the error of a pin the host does not have.
var ErrNoPin = errors.New("no such pin on this host")

// ErrPermission matches the error of a pin the process may not use. It is
// bus.ErrPermission, so one errors.Is finds a permission problem with a
// pin or a bus.
var ErrPermission = bus.ErrPermission

// PinError is an error of a pin; it names the pin.
type PinError struct {
	Pin string
	Err error
}

// Error returns, for instance, `gpio: pin "GPIO17": no such pin on this host`.
func (e *PinError) Error() string { return fmt.Sprintf("gpio: pin %q: %v", e.Pin, e.Err) }

// Unwrap returns the cause.
func (e *PinError) Unwrap() error { return e.Err }

// pinErr wraps err of pin name, recognising a permission error.
func pinErr(name, op string, err error) error {
	if err == nil {
		return nil
	}
	if msg := err.Error(); strings.Contains(msg, "permission denied") || strings.Contains(msg, "operation not permitted") {
		err = fmt.Errorf("%s: %w (add the user to group gpio): %v", op, ErrPermission, err)
	} else {
		err = fmt.Errorf("%s: %w", op, err)
	}
	return &PinError{Pin: name, Err: err}
}

// header40 maps the pins of the Raspberry Pi's 40-pin header (all models
// since the B+) to their Broadcom GPIO numbers; the header's other pins
// are power and ground.
var header40 = map[int]int{
	3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24, 19: 10,
	21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12, 33: 13, 35: 19,
	36: 16, 37: 26, 38: 20, 40: 21,
}

// Normalize returns the name of periph's registry for a Raspberry Pi pin
// name: "GPIO17" for "GPIO17", "gpio17", "BCM17", "17" and "P1_11". Other
// names are returned as they are (periph's own names and aliases).
func Normalize(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if rest, ok := strings.CutPrefix(n, "P1_"); ok {
		pos, err := strconv.Atoi(rest)
		if err != nil || pos < 1 || pos > 40 {
			return "", &PinError{Pin: name, Err: fmt.Errorf("%w: the header has pins P1_1 to P1_40", ErrNoPin)}
		}
		g, ok := header40[pos]
		if !ok {
			return "", &PinError{Pin: name, Err: fmt.Errorf("%w: header pin %d is power or ground, not a GPIO", ErrNoPin, pos)}
		}
		return "GPIO" + strconv.Itoa(g), nil
	}
	for _, prefix := range []string{"GPIO", "BCM", ""} {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			if g, err := strconv.Atoi(rest); err == nil && g >= 0 && rest == strconv.Itoa(g) {
				return "GPIO" + rest, nil
			}
		}
	}
	return strings.TrimSpace(name), nil
}

// Pin returns the pin named name (see Normalize), after periph's host
// init. The error names the pin and matches ErrNoPin when the host has no
// such pin.
func Pin(name string) (gpio.PinIO, error) {
	reg, err := Normalize(name)
	if err != nil {
		return nil, err
	}
	if _, err := host.Init(); err != nil {
		return nil, &PinError{Pin: name, Err: err}
	}
	if p := headerPin(name); p != nil {
		return p, nil
	}
	if p := gpioreg.ByName(reg); p != nil {
		return p, nil
	}
	if p := gpioreg.ByName(name); p != nil {
		return p, nil
	}
	return nil, &PinError{Pin: name, Err: fmt.Errorf("%w (%d GPIO pins registered by periph; is this a Raspberry Pi, and is the user in group gpio?)", ErrNoPin, len(gpioreg.All()))}
}

// headerPin returns the pin at a header position ("P1_11") as periph's
// board driver registered it (pinreg), which knows the old 26-pin boards;
// nil if it did not.
func headerPin(name string) gpio.PinIO {
	hdr, num, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(name)), "_")
	if !ok {
		return nil
	}
	pos, err := strconv.Atoi(num)
	if err != nil || pos < 1 {
		return nil
	}
	rows, ok := pinreg.All()[hdr]
	if !ok {
		return nil
	}
	r, c := (pos-1)/2, (pos-1)%2
	if r >= len(rows) || c >= len(rows[r]) {
		return nil
	}
	var p pin.Pin = rows[r][c]
	if g, ok := p.(gpio.PinIO); ok && g != gpio.INVALID {
		if real := gpioreg.ByName(g.Name()); real != nil {
			return real
		}
		return g
	}
	return nil
}

// InputOption configures an input pin.
type InputOption func(*inputConfig) error

type inputConfig struct {
	pull      gpio.Pull
	debounce  time.Duration
	edge      gpio.Edge
	activeLow bool
	valueOpts []values.Option
}

// Pull sets the pin's pull resistor: gpio.PullUp, gpio.PullDown, gpio.Float
// or gpio.PullNoChange (the default: leave it as it is).
func Pull(p gpio.Pull) InputOption {
	return func(c *inputConfig) error { c.pull = p; return nil }
}

// Debounce publishes a level only once the pin has kept it for d (a
// bouncing switch makes a burst of edges); 0, the default, publishes each
// edge's level.
func Debounce(d time.Duration) InputOption {
	return func(c *inputConfig) error {
		if d < 0 {
			return fmt.Errorf("debounce %v is negative", d)
		}
		c.debounce = d
		return nil
	}
}

// Edges sets the edges that wake the input: gpio.BothEdges (the default),
// gpio.RisingEdge or gpio.FallingEdge. With one edge only, the value
// still follows the pin's level, read after the edge.
func Edges(e gpio.Edge) InputOption {
	return func(c *inputConfig) error {
		if e == gpio.NoEdge {
			return errors.New("an input needs edges")
		}
		c.edge = e
		return nil
	}
}

// ActiveLow makes the value true when the pin is low (a button to ground
// with a pull-up).
func ActiveLow() InputOption {
	return func(c *inputConfig) error { c.activeLow = true; return nil }
}

// InputValues passes options to the input's value (values.Meta, ...).
func InputValues(opts ...values.Option) InputOption {
	return func(c *inputConfig) error { c.valueOpts = append(c.valueOpts, opts...); return nil }
}

// edgeWait bounds each WaitForEdge, so that the input's goroutine sees the
// module's stop.
const edgeWait = 100 * time.Millisecond

// Input is an input pin published as a Bool output value.
type Input struct {
	bus  *ipc.Bus
	v    *values.Bool
	pin  gpio.PinIn
	cfg  inputConfig
	name string
	err  error
	set  func(bool) error // in.v.Set; tests refuse publications with it

	mu    sync.Mutex
	fault error
}

// NewInput makes the value id, named name, follow the level of pin p. At
// the module's start it sets the pin up as an input (pull and edges), then
// publishes its level, and each new level after an edge, from a goroutine
// that ends when the module stops. A failure to set the pin up fails the
// module's start, naming the pin.
func NewInput(bus *ipc.Bus, id, name string, p gpio.PinIn, opts ...InputOption) *Input {
	in := &Input{pin: p, cfg: inputConfig{edge: gpio.BothEdges}}
	errf := func(format string, args ...any) error {
		return fmt.Errorf("gpio: input %q: "+format, append([]any{id}, args...)...)
	}
	for _, o := range opts {
		if err := o(&in.cfg); err != nil {
			in.err = errf("%w", err)
		}
	}
	if p == nil && in.err == nil {
		in.err = errf("nil pin")
	}
	if in.err == nil {
		in.name = p.Name()
	}
	if in.err != nil {
		if bus != nil {
			bus.Fail(in.err)
		}
		in.v = failed.Value(ipc.TypeBool, id, name, false, in.err).(*values.Bool)
		return in
	}
	in.bus = bus
	in.v = values.NewBool(bus, id, name, append([]values.Option{values.Output()}, in.cfg.valueOpts...)...)
	if err := in.v.Err(); err != nil {
		in.err = err
		return in
	}
	in.set = in.v.Set
	bus.OnStart(func(ctx context.Context) error {
		if err := p.In(in.cfg.pull, in.cfg.edge); err != nil {
			return pinErr(in.name, "set up as input", err)
		}
		if err := in.publish(); err != nil {
			return err
		}
		bus.Go(in.run)
		return nil
	})
	return in
}

// Value returns the input's value.
func (in *Input) Value() *values.Bool { return in.v }

// Err returns the error that kept the input from being created, or nil.
func (in *Input) Err() error { return in.err }

// Fault returns the error of the last publication if it failed.
func (in *Input) Fault() error {
	if in.err != nil {
		return in.err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fault
}

// publish reads the pin and publishes its level if it changed.
func (in *Input) publish() error {
	on := in.pin.Read() == gpio.High
	if in.cfg.activeLow {
		on = !on
	}
	var err error
	if in.v.Any() == nil || in.v.Value() != on {
		err = in.set(on)
	}
	in.mu.Lock()
	in.fault = err
	in.mu.Unlock()
	return err
}

// run follows the pin's edges until ctx ends. A refused publication is
// logged as a warning once per distinct error, as sensors and actuators
// do: a burst of edges refused for the same reason logs once, and the
// next publication that succeeds logs the recovery.
func (in *Input) run(ctx context.Context) {
	log := in.bus.Logger()
	lastMsg := "" // the error of the last refused publication, "" after a success
	for ctx.Err() == nil {
		if !in.pin.WaitForEdge(edgeWait) {
			continue
		}
		if in.cfg.debounce > 0 {
			// Wait until the pin has kept its level for the debounce time:
			// every edge within it starts it again.
			for ctx.Err() == nil && in.pin.WaitForEdge(in.cfg.debounce) {
			}
			if ctx.Err() != nil {
				return
			}
		}
		switch err := in.publish(); {
		case err != nil:
			if msg := err.Error(); msg != lastMsg {
				lastMsg = msg
				log.Warn("gpio input not published", "pin", in.name, "id", in.v.ID(), "error", err)
			}
		case lastMsg != "":
			lastMsg = ""
			log.Info("gpio input published again", "pin", in.name, "id", in.v.ID())
		}
	}
}

// OutputDriver drives an output pin: an actuators.BoolDriver.
type OutputDriver struct {
	Pin gpio.PinOut
	// ActiveLow drives the pin low for true (relay boards often switch
	// on a low input).
	ActiveLow bool
}

// WriteBool sets the pin to v (inverted if ActiveLow).
func (d OutputDriver) WriteBool(_ context.Context, v bool) error {
	if d.ActiveLow {
		v = !v
	}
	l := gpio.Low
	if v {
		l = gpio.High
	}
	return pinErr(d.Pin.Name(), "write "+l.String(), d.Pin.Out(l))
}

// NewOutput makes the input value id, named name, drive pin p: an
// actuators.Bool (see package actuators for Safe, Initial and the other
// options). A relay is typically NewOutput(bus, "heater", "Heater", p,
// actuators.Safe(false)).
func NewOutput(bus *ipc.Bus, id, name string, p gpio.PinOut, opts ...actuators.Option) *actuators.Bool {
	var drv actuators.BoolDriver
	if p != nil {
		drv = OutputDriver{Pin: p}
	}
	return actuators.NewBool(bus, id, name, drv, opts...)
}

// DefaultPWMFrequency is the PWM frequency NewPWM uses for 0.
const DefaultPWMFrequency = 1 * physic.KiloHertz

// PWMDriver drives a PWM pin: an actuators.NumberDriver whose numbers are
// duty cycles in percent.
type PWMDriver struct {
	Pin       gpio.PinOut
	Frequency physic.Frequency
}

// WriteNumber sets the duty cycle to v percent (0 to 100).
func (d PWMDriver) WriteNumber(_ context.Context, v float64) error {
	if !(v >= 0 && v <= 100) {
		return &PinError{Pin: d.Pin.Name(), Err: fmt.Errorf("duty cycle %g%% is outside [0, 100]", v)}
	}
	duty := gpio.Duty(v/100*float64(gpio.DutyMax) + 0.5)
	return pinErr(d.Pin.Name(), fmt.Sprintf("PWM %g%% at %s", v, d.Frequency), d.Pin.PWM(duty, d.Frequency))
}

// NewPWM makes the input value id, named name, drive the duty cycle of pin
// p at frequency f (0 for DefaultPWMFrequency): an actuators.Number in %,
// within 0..100. Hardware PWM is on GPIO12, 13, 18 and 19 of a Raspberry
// Pi; periph refuses other pins.
func NewPWM(bus *ipc.Bus, id, name string, p gpio.PinOut, f physic.Frequency, opts ...actuators.Option) *actuators.Number {
	if f == 0 {
		f = DefaultPWMFrequency
	}
	var drv actuators.NumberDriver
	if p != nil {
		drv = PWMDriver{Pin: p, Frequency: f}
	}
	opts = append([]actuators.Option{actuators.Values(values.Unit("%"), values.Range(0, 100))}, opts...)
	return actuators.NewNumber(bus, id, name, drv, opts...)
}
