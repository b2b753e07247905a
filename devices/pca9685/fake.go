package pca9685

import (
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip simulates a PCA9685 on an I2C bus, for tests and for examples on a
// laptop: an i2c.Bus with the chip's registers at one address, which
// decodes what each channel outputs. It always auto-increments the
// register address (the real chip does once MODE1.AI is set, which periph
// sets at start). Its methods are safe for concurrent use.
type Chip struct {
	addr uint16

	mu      sync.Mutex
	regs    [256]byte
	writes  int
	counts  [Channels]int  // decoded after the last transfer
	log     []ChannelWrite // changes of the decoded counts
	changed chan struct{}  // closed and replaced at each write
}

// ChannelWrite is a change of a channel's output seen by a Chip: its new
// count of high steps out of 4096.
type ChannelWrite struct {
	Channel, Count int
}

// Registers.
const (
	regMode1    = 0x00
	regLED0     = 0x06
	regAllLED   = 0xFA
	regPrescale = 0xFE
)

// NewChip returns a simulated PCA9685 at addr in its power-on state.
func NewChip(addr uint16) *Chip {
	c := &Chip{addr: addr, changed: make(chan struct{})}
	c.regs[regMode1] = 0x11 // SLEEP, ALLCALL
	c.regs[0x01] = 0x04     // OUTDRV
	c.regs[regPrescale] = 0x1E
	for ch := range Channels {
		c.regs[regLED0+4*ch+3] = 0x10 // full off
	}
	return c
}

// String implements conn.Resource.
func (c *Chip) String() string { return "fake-I2C" }

// Tx implements i2c.Bus. Another address does not answer.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	if addr != c.addr {
		return fmt.Errorf("pca9685 fake: no device at address %#x", addr)
	}
	if len(w) == 0 {
		return fmt.Errorf("pca9685 fake: transfer without a register address")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reg := int(w[0])
	for _, b := range w[1:] {
		if reg > 0xFF {
			return fmt.Errorf("pca9685 fake: no register %#x", reg)
		}
		c.regs[reg] = b
		if reg >= regAllLED && reg < regAllLED+4 {
			for ch := range Channels {
				c.regs[regLED0+4*ch+reg-regAllLED] = b
			}
		}
		c.writes++
		reg++
	}
	for i := range r {
		r[i] = c.regs[(reg+i)&0xFF]
	}
	if len(w) > 1 {
		for ch := range Channels {
			if n := c.count(ch); n != c.counts[ch] {
				c.counts[ch] = n
				c.log = append(c.log, ChannelWrite{ch, n})
			}
		}
		close(c.changed)
		c.changed = make(chan struct{})
	}
	return nil
}

// Changed returns a channel that is closed at the next register write, so
// that a test waits for an output to change instead of sleeping.
func (c *Chip) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// SetSpeed implements i2c.Bus.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Count returns how many of the 4096 steps of a period channel ch is high
// (0: off, 4096: fully on), decoded from its registers.
func (c *Chip) Count(ch int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count(ch)
}

func (c *Chip) count(ch int) int {
	b := c.regs[regLED0+4*ch : regLED0+4*ch+4]
	switch {
	case b[3]&0x10 != 0:
		return 0
	case b[1]&0x10 != 0:
		return 4096
	}
	on := int(b[0]) | int(b[1]&0x0F)<<8
	off := int(b[2]) | int(b[3]&0x0F)<<8
	return (off - on + 4096) % 4096
}

// Duty returns channel ch's duty cycle in %.
func (c *Chip) Duty(ch int) float64 { return float64(c.Count(ch)) * 100 / 4096 }

// Prescale returns the prescaler register.
func (c *Chip) Prescale() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[regPrescale]
}

// Period returns the PWM period set by the prescaler.
func (c *Chip) Period() time.Duration {
	return time.Duration((int64(c.Prescale()) + 1) * 4096 * int64(time.Second) / 25e6)
}

// Pulse returns how long channel ch is high in each period.
func (c *Chip) Pulse(ch int) time.Duration {
	return time.Duration(int64(c.Count(ch)) * int64(c.Period()) / 4096)
}

// Sleeping reports whether the oscillator is off (MODE1.SLEEP): the
// outputs do not run.
func (c *Chip) Sleeping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[regMode1]&0x10 != 0
}

// Log returns every change of a channel's output, in order.
func (c *Chip) Log() []ChannelWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ChannelWrite(nil), c.log...)
}

// Writes returns how many register bytes were written.
func (c *Chip) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// FakeDev is a Dev opened on a simulated chip (see Fake).
type FakeDev struct {
	*Dev
	// Chip is the simulated chip: each channel's output, decoded.
	Chip *Chip
}

// Fake returns a PCA9685 at DefaultAddr on a simulated chip, so that tests
// and examples run without hardware; it takes Open's options and, like
// Open, about 0.2 s. It panics if an option is invalid.
func Fake(opts ...Option) *FakeDev {
	c := NewChip(DefaultAddr)
	d, err := Open(c, DefaultAddr, opts...)
	if err != nil {
		panic(err)
	}
	return &FakeDev{Dev: d, Chip: c}
}

var _ i2c.Bus = (*Chip)(nil)
