// Package mcp23xxx drives Microchip's MCP23017 (16 pins) and MCP23008 (8
// pins) I2C GPIO expanders, wrapping periph's driver
// (periph.io/x/devices/v3/mcp23xxx), and offers their pins as periph
// gpio.PinIO so that devices/gpio can make values of them like of the
// host's own pins.
//
// What this package adds to periph's driver: Open checks that a chip
// answers and names the bus and the address when it does not; every error
// of a pin names the chip and the pin; pin operations are serialised (the
// periph driver's register cache is not safe for concurrent use); Read
// keeps its bus error for Dev.Err (gpio.PinIO's Read cannot return one);
// and Fake simulates the chip's registers for tests and laptops.
//
// Pins: an MCP23017's GPA0..GPA7 are numbers 0..7 and GPB0..GPB7 are 8..15;
// an MCP23008's GP0..GP7 are 0..7. Inputs have a 100 kΩ pull-up
// (gpio.PullUp) or none (gpio.Float); there is no pull-down.
//
// Edges: this driver does not use the chips' interrupt lines (INTA/INTB,
// INT). A pin set up with In(pull, edge) for edges detects them by
// polling: WaitForEdge reads the pin's port every poll interval
// (SetPollInterval; 20 ms by default) and reports a change of level since
// the last edge it reported or since In. So devices/gpio can make
// event-driven inputs of its pins; a pulse shorter than the interval may
// be missed.
//
// Addresses: 0x20..0x27 (A2..A0). The chips have no identification
// register, so a wrong chip at the address is not detected.
//
// Datasheets: https://ww1.microchip.com/downloads/en/DeviceDoc/20001952C.pdf (MCP23017),
// https://ww1.microchip.com/downloads/en/DeviceDoc/21919e.pdf (MCP23008).
package mcp23xxx

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/devices/v3/mcp23xxx"

	"github.com/kervi/kervi-go/devices/internal/chip"
)

// Variant names a chip of the family.
type Variant = mcp23xxx.Variant

// The chips this package supports.
const (
	MCP23017 Variant = mcp23xxx.MCP23017 // 16 pins, two ports
	MCP23008 Variant = mcp23xxx.MCP23008 // 8 pins
)

// DefaultAddr is the address with A2..A0 low.
const DefaultAddr uint16 = 0x20

// GPIO and OLAT registers per port (IOCON.BANK = 0, the power-on setting).
var (
	gpioReg = map[Variant][]byte{MCP23017: {0x12, 0x13}, MCP23008: {0x09}}
	olatReg = map[Variant][]byte{MCP23017: {0x14, 0x15}, MCP23008: {0x0A}}
)

// Dev is an opened MCP23017 or MCP23008. Its methods and its pins' are
// safe for concurrent use.
type Dev struct {
	dev     *mcp23xxx.Dev
	i2c     i2c.Dev
	variant Variant
	name    string // "mcp23017 at I2C1 address 0x20", for errors
	pins    []*Pin

	mu   sync.Mutex    // serialises register access
	err  error         // of the last failed Pin.Read
	poll time.Duration // WaitForEdge's polling interval
}

// DefaultPollInterval is how often WaitForEdge reads a pin by default.
const DefaultPollInterval = 20 * time.Millisecond

// SetPollInterval sets how often WaitForEdge reads a pin (see the package
// doc); i must be positive.
func (d *Dev) SetPollInterval(i time.Duration) {
	if i > 0 {
		d.mu.Lock()
		d.poll = i
		d.mu.Unlock()
	}
}

// Open checks that a chip of the variant answers at addr on b (reading its
// direction registers) and returns it. The pins keep their state until
// they are set. The error names the chip, the bus and the address.
func Open(b i2c.Bus, v Variant, addr uint16) (*Dev, error) {
	name := fmt.Sprintf("%s at %s address %#x", lower(v), b, addr)
	regs, ok := gpioReg[v]
	if !ok {
		return nil, fmt.Errorf("%s: unsupported chip (want %s or %s)", name, MCP23017, MCP23008)
	}
	if addr&^7 != 0x20 {
		return nil, fmt.Errorf("%s: address out of the chip's range 0x20..0x27", name)
	}
	pd, err := mcp23xxx.NewI2C(b, v, addr)
	if err != nil {
		return nil, chip.Errorf(lower(v), b, addr, "no device answers: %w", err)
	}
	d := &Dev{dev: pd, i2c: i2c.Dev{Bus: b, Addr: addr}, variant: v, name: name, poll: DefaultPollInterval}
	// periph registers the pins in gpioreg; a second Open of the same chip
	// keeps the first registration. Pins are handed out by Dev instead.
	for port, pins := range pd.Pins {
		for bit, p := range pins {
			n := 8*port + bit
			label := fmt.Sprintf("GP%d", bit)
			if v == MCP23017 {
				label = fmt.Sprintf("GP%c%d", 'A'+port, bit)
			}
			d.pins = append(d.pins, &Pin{d: d, p: p, n: n, label: label, reg: regs[port], olat: olatReg[v][port], bit: uint(bit)})
		}
	}
	return d, nil
}

func lower(v Variant) string {
	b := []byte(v)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// String returns "<chip> at <bus> address <addr>".
func (d *Dev) String() string { return d.name }

// Variant returns the chip's variant.
func (d *Dev) Variant() Variant { return d.variant }

// Pins returns the chip's pins in order (see the package doc), as periph
// gpio.PinIO.
func (d *Dev) Pins() []gpio.PinIO {
	p := make([]gpio.PinIO, len(d.pins))
	for i := range d.pins {
		p[i] = d.pins[i]
	}
	return p
}

// Pin returns pin n (0..15 on an MCP23017, 0..7 on an MCP23008); it panics
// if there is no such pin.
func (d *Dev) Pin(n int) *Pin {
	if n < 0 || n >= len(d.pins) {
		panic(fmt.Sprintf("%s: no pin %d (0..%d)", d.name, n, len(d.pins)-1))
	}
	return d.pins[n]
}

// Err returns the error of the last failed Pin.Read (which then reads
// low), or nil if the last read succeeded.
func (d *Dev) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Halt makes every pin a floating input (high impedance), the power-on
// state: the safe state of outputs that drive loads.
func (d *Dev) Halt() error {
	for _, p := range d.pins {
		if err := p.Halt(); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the chip's pins from periph's gpioreg registry, where
// periph's driver put them (those of this Dev only: a name registered by
// another Open of the same chip stays). It does not change the pins.
func (d *Dev) Close() error {
	for _, p := range d.pins {
		if gpioreg.ByName(p.p.Name()) == gpio.PinIO(p.p) {
			_ = gpioreg.Unregister(p.p.Name())
		}
	}
	return nil
}

// Pin is one of the chip's pins, a gpio.PinIO.
type Pin struct {
	d     *Dev
	p     mcp23xxx.Pin
	n     int
	label string // datasheet name: GPA3, GP5
	reg   byte   // its GPIO register
	olat  byte   // its OLAT register
	bit   uint

	// of edge detection, under d.mu
	edge gpio.Edge
	last gpio.Level
}

// errorf returns an error of the pin that is not the bus's, such as a
// pull-down asked for.
func (p *Pin) errorf(err error, what string) error {
	return fmt.Errorf("%s: pin %s: %s: %w", p.d.name, p.label, what, err)
}

// busErrorf returns err, an error of the chip's I/O, as a *bus.Error
// naming the chip, its bus and its address; nil if err is nil.
func (p *Pin) busErrorf(err error, what string) error {
	if err == nil {
		return nil
	}
	return chip.Errorf(lower(p.d.variant), p.d.i2c.Bus, p.d.i2c.Addr, "pin %s: %s: %w", p.label, what, err)
}

// String returns the pin's name.
func (p *Pin) String() string { return p.Name() }

// Name returns periph's name of the pin, such as MCP23017_20_PORTB_3.
func (p *Pin) Name() string { return p.p.Name() }

// Label returns the datasheet's name of the pin, such as GPB3 or GP3.
func (p *Pin) Label() string { return p.label }

// Number returns the pin's number (see the package doc).
func (p *Pin) Number() int { return p.n }

// Function returns "In" or "Out" (deprecated in periph; see Func).
func (p *Pin) Function() string { return string(p.Func()) }

// Func returns gpio.IN or gpio.OUT.
func (p *Pin) Func() pin.Func {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.p.(pin.PinFunc).Func()
}

// SupportedFuncs returns IN and OUT.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc makes the pin an input or an output.
func (p *Pin) SetFunc(f pin.Func) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if f != gpio.IN && f != gpio.OUT {
		return p.errorf(fmt.Errorf("not supported"), "function "+string(f))
	}
	return p.busErrorf(p.p.(pin.PinFunc).SetFunc(f), "setting function "+string(f))
}

// Halt makes the pin a floating input.
func (p *Pin) Halt() error { return p.In(gpio.Float, gpio.NoEdge) }

// In makes the pin an input with the chip's pull-up (gpio.PullUp) or
// without (gpio.Float, gpio.PullNoChange); gpio.PullDown is an error: the
// chip has none. With an edge other than gpio.NoEdge, In reads the pin's
// level, from which WaitForEdge detects edges by polling (see the package
// doc).
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull == gpio.PullDown {
		return p.errorf(fmt.Errorf("no pull-down on this chip"), "input")
	}
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if err := p.p.In(pull, gpio.NoEdge); err != nil {
		return p.busErrorf(err, "input")
	}
	var l gpio.Level
	if edge != gpio.NoEdge {
		var err error
		if l, err = p.read(); err != nil {
			return p.busErrorf(err, "input")
		}
	}
	p.edge, p.last = edge, l
	return nil
}

// read reads the pin's level from the chip, d.mu held.
func (p *Pin) read() (gpio.Level, error) {
	var r [1]byte
	err := p.d.i2c.Tx([]byte{p.reg}, r[:])
	return err == nil && r[0]&(1<<p.bit) != 0, err
}

// Read returns the pin's level, read from the chip; on a bus error it
// returns gpio.Low and keeps the error for Dev.Err.
func (p *Pin) Read() gpio.Level {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	l, err := p.read()
	p.d.err = p.busErrorf(err, "read")
	return l
}

// WaitForEdge polls the pin until its level changed as the edge given to
// In says, since In or the last edge reported, and returns true; or
// returns false after timeout (a negative timeout waits forever), or at
// once if In was not given an edge. A read that fails is kept for Dev.Err
// and counts as no change.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		p.d.mu.Lock()
		edge, poll := p.edge, p.d.poll
		if edge == gpio.NoEdge {
			p.d.mu.Unlock()
			return false
		}
		l, err := p.read()
		p.d.err = p.busErrorf(err, "read")
		changed := err == nil && l != p.last
		if changed {
			p.last = l
		}
		p.d.mu.Unlock()
		if changed && (edge == gpio.BothEdges || (edge == gpio.RisingEdge) == bool(l)) {
			return true
		}
		wait := poll
		if timeout >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return false
			}
			wait = min(wait, left)
		}
		time.Sleep(wait)
	}
}

// Pull returns gpio.PullUp or gpio.Float, from the chip's cached setting.
func (p *Pin) Pull() gpio.Pull {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return p.p.Pull()
}

// DefaultPull returns gpio.Float, the power-on setting.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.Float }

// Out makes the pin an output at level l. An input turned output starts
// at l: its output latch is written before its direction (periph's driver
// alone does the reverse, so the pin would first drive the latch's old
// level, a click of a relay board).
func (p *Pin) Out(l gpio.Level) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	if p.p.(pin.PinFunc).Func() == gpio.IN {
		if err := p.latch(l); err != nil {
			return p.busErrorf(err, "output "+l.String())
		}
	}
	return p.busErrorf(p.p.Out(l), "output "+l.String())
}

// latch sets the pin's bit of OLAT on the chip, keeping the other bits as
// the chip has them; periph's cached copy of OLAT stays right, since its
// Out then writes this bit to l again (or skips the write). d.mu held.
func (p *Pin) latch(l gpio.Level) error {
	var r [1]byte
	if err := p.d.i2c.Tx([]byte{p.olat}, r[:]); err != nil {
		return err
	}
	v := r[0] &^ (1 << p.bit)
	if l {
		v |= 1 << p.bit
	}
	if v == r[0] {
		return nil
	}
	return p.d.i2c.Tx([]byte{p.olat, v}, nil)
}

// PWM returns an error: the chip has no PWM.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return p.errorf(fmt.Errorf("no PWM on this chip"), "PWM")
}

var (
	_ gpio.PinIO  = (*Pin)(nil)
	_ pin.PinFunc = (*Pin)(nil)
)
