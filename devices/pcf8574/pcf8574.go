// Package pcf8574 drives the NXP/TI PCF8574 and PCF8574A, 8-bit I2C GPIO
// expanders, as eight periph gpio.PinIO pins, so that devices/gpio can make
// values of them like of the host's own pins. The same chip sits on the
// I2C "backpacks" of character LCDs (see devices/hd44780).
//
// The chip has no registers: a write of one byte sets the eight pins, a
// read of one byte returns their levels. Its pins are quasi-bidirectional:
// a pin written 0 sinks current (low); a pin written 1 is pulled up weakly
// and is also an input, reading low when something outside pulls it down.
// So an input is a pin written high, and the chip has no pull-down and no
// PWM.
//
// Edges: the chip reports changes only on its shared /INT line, which
// this driver does not use. A pin set up with In(pull, edge) for edges
// detects them by polling: WaitForEdge reads the pin every poll interval
// (SetPollInterval; 20 ms by default, one 2-byte I2C transfer per pin
// waiting) and reports a change of level since the last edge it reported
// or since In. So devices/gpio can make event-driven inputs of its pins;
// a pulse shorter than the interval may be missed.
//
// This is a driver of our own rather than a wrapper of periph's pcf857x
// (devices/v3 v3.7.4): that one does not check that a chip answers when it
// is opened, logs the errors of pin reads with the standard logger instead
// of returning them, and registers every pin in periph's global gpioreg
// registry as a side effect of New.
//
// Addresses: 0x20..0x27 for the PCF8574, 0x38..0x3F for the PCF8574A (A2..A0
// select the low bits). LCD backpacks usually answer at 0x27 or 0x3F.
//
// Datasheet: https://www.ti.com/lit/ds/symlink/pcf8574.pdf
package pcf8574

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"

	"github.com/kervi/kervi-go/devices/internal/chip"
)

// DefaultAddr is the address of a PCF8574 with A2..A0 low; a PCF8574A's is
// 0x38.
const DefaultAddr uint16 = 0x20

// Dev is an opened PCF8574. Its methods are safe for concurrent use.
type Dev struct {
	dev  i2c.Dev
	name string // "pcf8574 at I2C1 address 0x20", for errors
	pins [8]*Pin

	mu    sync.Mutex
	latch byte          // the byte last written (1 = high or input)
	err   error         // the last error of a pin's Read, which cannot return one
	poll  time.Duration // WaitForEdge's polling interval
}

// DefaultPollInterval is how often WaitForEdge reads a pin by default.
const DefaultPollInterval = 20 * time.Millisecond

// Open checks that a PCF8574 answers at addr on b, by reading its pins,
// and returns it. The chip keeps its pins as they are until the first
// write; the driver assumes the power-on state (every pin high, i.e. an
// input), so the first write of any pin also releases pins driven low by an
// earlier program. The error names the bus and the address.
func Open(b i2c.Bus, addr uint16) (*Dev, error) {
	d := &Dev{
		dev:   i2c.Dev{Bus: b, Addr: addr},
		name:  fmt.Sprintf("pcf8574 at %s address %#x", b, addr),
		latch: 0xFF,
		poll:  DefaultPollInterval,
	}
	if addr > 0x7F {
		return nil, fmt.Errorf("%s: not a 7-bit I2C address", d.name)
	}
	if _, err := d.read(); err != nil {
		return nil, d.busErrorf("no device answers: %w", err)
	}
	for i := range d.pins {
		d.pins[i] = &Pin{d: d, n: i, name: fmt.Sprintf("PCF8574_%x_P%d", addr, i)}
	}
	return d, nil
}

// String returns "pcf8574 at <bus> address <addr>".
func (d *Dev) String() string { return d.name }

// Pin returns pin Pn (0..7); it panics if n is out of range.
func (d *Dev) Pin(n int) *Pin {
	if n < 0 || n >= len(d.pins) {
		panic(fmt.Sprintf("%s: no pin P%d (0..7)", d.name, n))
	}
	return d.pins[n]
}

// Pins returns the eight pins P0..P7, as periph gpio.PinIO.
func (d *Dev) Pins() []gpio.PinIO {
	p := make([]gpio.PinIO, len(d.pins))
	for i := range d.pins {
		p[i] = d.pins[i]
	}
	return p
}

// Write sets the eight pins at once: bit n is Pn, 1 high (or input), 0 low.
func (d *Dev) Write(v byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.write(v)
}

// WriteBytes writes each byte of p in turn, in one I2C transfer; the pins
// take each byte as it is received (at 100 kHz, one every 90 µs). An LCD
// backpack strobes its display this way.
func (d *Dev) WriteBytes(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.dev.Tx(p, nil); err != nil {
		return d.busErrorf("writing %d bytes: %w", len(p), err)
	}
	d.latch = p[len(p)-1]
	return nil
}

func (d *Dev) write(v byte) error {
	if err := d.dev.Tx([]byte{v}, nil); err != nil {
		return d.busErrorf("writing %#02x: %w", v, err)
	}
	d.latch = v
	return nil
}

// Read returns the levels of the eight pins (bit n is Pn). A pin written
// low reads low.
func (d *Dev) Read() (byte, error) {
	v, err := d.read()
	if err != nil {
		return 0, d.busErrorf("reading: %w", err)
	}
	return v, nil
}

// read reads the pins; its error is the bus's, the caller names the chip.
func (d *Dev) read() (byte, error) {
	var r [1]byte
	err := d.dev.Tx(nil, r[:])
	return r[0], err
}

// busErrorf returns an error of the chip's I/O as a *bus.Error naming the
// chip, its bus and its address.
func (d *Dev) busErrorf(format string, args ...any) error {
	return chip.Errorf("pcf8574", d.dev.Bus, d.dev.Addr, format, args...)
}

// Latch returns the byte last written (the power-on 0xFF before any).
func (d *Dev) Latch() byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.latch
}

// Err returns the error of the last failed Pin.Read, which reads low then
// because gpio.PinIO's Read cannot return an error; nil if the last read
// succeeded. A user of pins as inputs checks it to tell a low pin from a
// bus failure.
func (d *Dev) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// SetPollInterval sets how often WaitForEdge reads a pin (see the package
// doc); d must be positive.
func (d *Dev) SetPollInterval(i time.Duration) {
	if i > 0 {
		d.mu.Lock()
		d.poll = i
		d.mu.Unlock()
	}
}

// Halt releases every pin (all high: inputs), the chip's power-on state.
func (d *Dev) Halt() error { return d.Write(0xFF) }

// setBit writes the latch with bit n set to high.
func (d *Dev) setBit(n int, high bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.latch
	if high {
		v |= 1 << n
	} else {
		v &^= 1 << n
	}
	if v == d.latch {
		return nil
	}
	return d.write(v)
}

// Pin is one of the chip's pins, a gpio.PinIO.
type Pin struct {
	d    *Dev
	n    int
	name string

	// of edge detection, under d.mu
	edge gpio.Edge
	last gpio.Level
}

// String returns the pin's name.
func (p *Pin) String() string { return p.name }

// Name returns "PCF8574_<address in hex>_P<n>", such as PCF8574_27_P3.
func (p *Pin) Name() string { return p.name }

// Number returns the pin's number on the chip, 0..7.
func (p *Pin) Number() int { return p.n }

// Function returns "In" or "Out" (deprecated in periph; see Func).
func (p *Pin) Function() string { return string(p.Func()) }

// Func returns gpio.IN if the pin is written high (released), gpio.OUT
// if it is driven low.
func (p *Pin) Func() pin.Func {
	if p.d.Latch()&(1<<p.n) != 0 {
		return gpio.IN
	}
	return gpio.OUT
}

// SupportedFuncs returns IN and OUT.
func (p *Pin) SupportedFuncs() []pin.Func { return []pin.Func{gpio.IN, gpio.OUT} }

// SetFunc sets the pin to IN (released high) or OUT (driven low).
func (p *Pin) SetFunc(f pin.Func) error {
	switch f {
	case gpio.IN:
		return p.In(gpio.PullNoChange, gpio.NoEdge)
	case gpio.OUT:
		return p.Out(gpio.Low)
	}
	return fmt.Errorf("%s: pin %s: function %s not supported", p.d.name, p.name, f)
}

// Halt releases the pin (high: an input).
func (p *Pin) Halt() error { return p.d.setBit(p.n, true) }

// In makes the pin an input by writing it high. The chip has only its weak
// pull-up: gpio.PullUp, gpio.Float and gpio.PullNoChange are accepted;
// gpio.PullDown is an error. With an edge other than gpio.NoEdge, In reads
// the pin's level, from which WaitForEdge detects edges by polling (see the
// package doc).
func (p *Pin) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull == gpio.PullDown {
		return fmt.Errorf("%s: pin %s: no pull-down on this chip", p.d.name, p.name)
	}
	if err := p.d.setBit(p.n, true); err != nil {
		return err
	}
	var l gpio.Level
	if edge != gpio.NoEdge {
		v, err := p.d.read()
		if err != nil {
			return p.d.busErrorf("pin %s: reading: %w", p.name, err)
		}
		l = v&(1<<p.n) != 0
	}
	p.d.mu.Lock()
	p.edge, p.last = edge, l
	p.d.mu.Unlock()
	return nil
}

// Read returns the pin's level; on a bus error it returns gpio.Low and
// the error is kept for Dev.Err.
func (p *Pin) Read() gpio.Level {
	v, err := p.d.Read()
	p.d.mu.Lock()
	p.d.err = err
	p.d.mu.Unlock()
	if err != nil {
		return gpio.Low
	}
	return v&(1<<p.n) != 0
}

// WaitForEdge polls the pin until its level changed as the edge given to
// In says, since In or the last edge reported, and returns true; or
// returns false after timeout (a negative timeout waits forever), or at
// once if In was not given an edge. A read that fails is kept for Dev.Err
// and counts as no change.
func (p *Pin) WaitForEdge(timeout time.Duration) bool {
	p.d.mu.Lock()
	edge, last, poll := p.edge, p.last, p.d.poll
	p.d.mu.Unlock()
	if edge == gpio.NoEdge {
		return false
	}
	deadline := time.Now().Add(timeout)
	for {
		v, err := p.d.Read()
		p.d.mu.Lock()
		p.d.err = err
		p.d.mu.Unlock()
		if l := gpio.Level(v&(1<<p.n) != 0); err == nil && l != last {
			p.d.mu.Lock()
			p.last = l
			p.d.mu.Unlock()
			last = l
			if edge == gpio.BothEdges || (edge == gpio.RisingEdge) == bool(l) {
				return true
			}
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

// Pull returns gpio.PullUp: a released pin is pulled up weakly.
func (p *Pin) Pull() gpio.Pull { return gpio.PullUp }

// DefaultPull returns gpio.PullUp.
func (p *Pin) DefaultPull() gpio.Pull { return gpio.PullUp }

// Out drives the pin: gpio.Low sinks current, gpio.High releases it to
// the weak pull-up (a high output can only source about 100 µA: drive
// loads such as LEDs and relay boards active low).
func (p *Pin) Out(l gpio.Level) error { return p.d.setBit(p.n, bool(l)) }

// PWM returns an error: the chip has no PWM.
func (p *Pin) PWM(gpio.Duty, physic.Frequency) error {
	return fmt.Errorf("%s: pin %s: no PWM on this chip", p.d.name, p.name)
}

var (
	_ gpio.PinIO    = (*Pin)(nil)
	_ pin.PinFunc   = (*Pin)(nil)
	_ conn.Resource = (*Dev)(nil)
)
