package pcf8574

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip simulates a PCF8574 on an I2C bus, for tests and for examples on a
// laptop: it is an i2c.Bus with the chip at one address. It keeps the
// byte last written, records every byte written, and lets a test pull pins
// low from outside. Its methods are safe for concurrent use.
type Chip struct {
	addr uint16

	mu      sync.Mutex
	latch   byte
	low     byte // pins pulled low from outside
	writes  []byte
	changed chan struct{} // closed and replaced at each write
}

// NewChip returns a simulated PCF8574 at addr, in its power-on state.
func NewChip(addr uint16) *Chip { return &Chip{addr: addr, latch: 0xFF, changed: make(chan struct{})} }

// String implements conn.Resource.
func (c *Chip) String() string { return "fake-I2C" }

// Tx implements i2c.Bus: each byte written sets the pins; a read returns
// the pins' levels. Another address does not answer.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	if addr != c.addr {
		return fmt.Errorf("pcf8574 fake: no device at address %#x", addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range w {
		c.latch = b
		c.writes = append(c.writes, b)
	}
	for i := range r {
		r[i] = c.latch &^ c.low
	}
	if len(w) > 1 || (len(w) == 1 && len(r) == 0) {
		close(c.changed)
		c.changed = make(chan struct{})
	}
	return nil
}

// Changed returns a channel that is closed at the next write to the chip,
// so that a test waits for a pin to change instead of sleeping.
func (c *Chip) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// SetSpeed implements i2c.Bus.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Latch returns the byte last written to the chip.
func (c *Chip) Latch() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latch
}

// Level returns the level of pin n as a load on it sees it.
func (c *Chip) Level(n int) gpio.Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	return (c.latch&^c.low)&(1<<n) != 0
}

// Writes returns every byte written to the chip, in order.
func (c *Chip) Writes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.writes...)
}

// Drive sets what pulls pin n from outside: gpio.Low pulls it down (a
// button to ground), gpio.High lets it float up.
func (c *Chip) Drive(n int, l gpio.Level) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l {
		c.low &^= 1 << n
	} else {
		c.low |= 1 << n
	}
}

// FakeDev is a Dev opened on a simulated chip (see Fake).
type FakeDev struct {
	*Dev
	// Chip is the simulated chip: what was written, and levels to drive.
	Chip *Chip
}

// Fake returns a PCF8574 at DefaultAddr on a simulated chip, so that tests
// and examples run without hardware. Its pins are real Pins: code that
// uses them does not know.
func Fake() *FakeDev {
	c := NewChip(DefaultAddr)
	d, err := Open(c, DefaultAddr)
	if err != nil {
		panic(err) // the simulated chip always answers
	}
	return &FakeDev{Dev: d, Chip: c}
}

var _ i2c.Bus = (*Chip)(nil)
