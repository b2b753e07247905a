package mcp23xxx

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip simulates an MCP23017 or MCP23008 on an I2C bus, for tests and for
// examples on a laptop: an i2c.Bus with the chip's register file (IOCON.BANK
// = 0, sequential addressing) at one address. It records every register
// write and lets a test drive input pins from outside. Its methods are safe
// for concurrent use.
type Chip struct {
	addr    uint16
	variant Variant
	l       layout

	mu      sync.Mutex
	regs    []byte
	ext     []int8 // per pin: -1 not driven, 0 low, 1 high
	writes  []RegWrite
	changed chan struct{} // closed and replaced at each write
}

// RegWrite is one register write seen by a Chip.
type RegWrite struct {
	Reg, Value byte
}

type layout struct {
	n                           int // registers
	iodir, ipol, gppu, gpio, ol []byte
}

var layouts = map[Variant]layout{
	MCP23017: {n: 0x16, iodir: []byte{0x00, 0x01}, ipol: []byte{0x02, 0x03}, gppu: []byte{0x0C, 0x0D},
		gpio: []byte{0x12, 0x13}, ol: []byte{0x14, 0x15}},
	MCP23008: {n: 0x0B, iodir: []byte{0x00}, ipol: []byte{0x01}, gppu: []byte{0x06}, gpio: []byte{0x09}, ol: []byte{0x0A}},
}

// NewChip returns a simulated chip of the variant at addr, in its power-on
// state (every pin a floating input). It panics on another variant.
func NewChip(v Variant, addr uint16) *Chip {
	l, ok := layouts[v]
	if !ok {
		panic(fmt.Sprintf("mcp23xxx fake: unsupported chip %s", v))
	}
	c := &Chip{addr: addr, variant: v, l: l, regs: make([]byte, l.n), ext: make([]int8, 8*len(l.gpio)), changed: make(chan struct{})}
	for _, r := range l.iodir {
		c.regs[r] = 0xFF
	}
	for i := range c.ext {
		c.ext[i] = -1
	}
	return c
}

// String implements conn.Resource.
func (c *Chip) String() string { return "fake-I2C" }

// Tx implements i2c.Bus: the first byte written is the register address,
// further bytes are written from there on; reads start at the register
// address. Another address does not answer.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	if addr != c.addr {
		return fmt.Errorf("mcp23xxx fake: no device at address %#x", addr)
	}
	if len(w) == 0 {
		return fmt.Errorf("mcp23xxx fake: transfer without a register address")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reg := int(w[0])
	for _, b := range w[1:] {
		if reg >= c.l.n {
			return fmt.Errorf("mcp23xxx fake: no register %#x", reg)
		}
		c.writes = append(c.writes, RegWrite{byte(reg), b})
		for port, g := range c.l.gpio { // a write to GPIO writes OLAT
			if int(g) == reg {
				reg = int(c.l.ol[port])
			}
		}
		c.regs[reg] = b
		reg++
	}
	for i := range r {
		if reg >= c.l.n {
			return fmt.Errorf("mcp23xxx fake: no register %#x", reg)
		}
		r[i] = c.read(reg)
		reg++
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

func (c *Chip) read(reg int) byte {
	for port, g := range c.l.gpio {
		if int(g) == reg {
			var v byte
			for bit := range 8 {
				if c.level(8*port + bit) {
					v |= 1 << bit
				}
			}
			return v
		}
	}
	return c.regs[reg]
}

// level returns the level of pin n; as the GPIO register reads it for an
// input (IPOL applied), as the load sees it for an output.
func (c *Chip) level(n int) bool {
	port, bit := n/8, byte(1)<<(n%8)
	if c.regs[c.l.iodir[port]]&bit == 0 { // output
		return c.regs[c.l.ol[port]]&bit != 0
	}
	var in bool
	switch c.ext[n] {
	case 0:
		in = false
	case 1:
		in = true
	default:
		in = c.regs[c.l.gppu[port]]&bit != 0 // pulled up, or floating (reads low here)
	}
	return in != (c.regs[c.l.ipol[port]]&bit != 0)
}

// SetSpeed implements i2c.Bus.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Reg returns the content of register reg.
func (c *Chip) Reg(reg byte) byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[reg]
}

// IsOutput reports whether pin n is an output.
func (c *Chip) IsOutput(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regs[c.l.iodir[n/8]]&(1<<(n%8)) == 0
}

// Level returns the level of pin n: an output's as its load sees it, an
// input's as the chip reads it.
func (c *Chip) Level(n int) gpio.Level {
	c.mu.Lock()
	defer c.mu.Unlock()
	return gpio.Level(c.level(n))
}

// Drive drives input pin n from outside at level l.
func (c *Chip) Drive(n int, l gpio.Level) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ext[n] = 0
	if l {
		c.ext[n] = 1
	}
}

// Release stops driving pin n from outside: it floats, or reads high with
// its pull-up.
func (c *Chip) Release(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ext[n] = -1
}

// Writes returns every register write, in order.
func (c *Chip) Writes() []RegWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]RegWrite(nil), c.writes...)
}

// FakeDev is a Dev opened on a simulated chip (see Fake).
type FakeDev struct {
	*Dev
	// Chip is the simulated chip: its registers, writes and inputs.
	Chip *Chip
}

// Fake returns a chip of the variant (MCP23017 or MCP23008) at DefaultAddr
// on a simulated chip, so that tests and examples run without hardware.
// Its pins are real Pins over the simulated registers. It panics on
// another variant.
func Fake(v Variant) *FakeDev {
	c := NewChip(v, DefaultAddr)
	d, err := Open(c, v, DefaultAddr)
	if err != nil {
		panic(err)
	}
	return &FakeDev{Dev: d, Chip: c}
}

var _ i2c.Bus = (*Chip)(nil)
