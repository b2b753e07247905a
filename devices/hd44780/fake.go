package hd44780

import (
	"fmt"
	"strings"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// Chip simulates a character LCD behind a PCF8574 backpack on an I2C bus,
// for tests and for examples on a laptop: an i2c.Bus that decodes the
// backpack's bytes as the HD44780 does (8-bit mode at power-on, 4-bit once
// told, E's falling edges latching the nibbles) into its display memory.
// Its methods are safe for concurrent use.
type Chip struct {
	addr       uint16
	cols, rows int

	mu        sync.Mutex
	port      byte // last byte written to the PCF8574
	writes    []byte
	fourBit   bool
	high      int // pending high nibble in 4-bit mode, -1 if none
	ddram     [0x80]byte
	ac        int // address counter
	twoLines  bool
	displayOn bool
	instrs    []byte        // instructions received, in order
	changed   chan struct{} // closed and replaced at each write
}

// NewChip returns a simulated cols x rows LCD on a backpack at addr, as at
// power-on (8-bit mode, display off, memory blank).
func NewChip(addr uint16, cols, rows int) *Chip {
	c := &Chip{addr: addr, cols: cols, rows: rows, high: -1, port: 0xFF, changed: make(chan struct{})}
	for i := range c.ddram {
		c.ddram[i] = ' '
	}
	return c
}

// String implements conn.Resource.
func (c *Chip) String() string { return "fake-I2C" }

// Tx implements i2c.Bus: every byte written goes to the backpack's pins;
// a read returns them. Another address does not answer.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	if addr != c.addr {
		return fmt.Errorf("hd44780 fake: no device at address %#x", addr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range w {
		c.writes = append(c.writes, b)
		if c.port&pinE != 0 && b&pinE == 0 { // E falls: latch D4..D7
			c.latch(c.port>>4, c.port&pinRS != 0)
		}
		c.port = b
	}
	for i := range r {
		r[i] = c.port
	}
	if len(w) > 0 {
		close(c.changed)
		c.changed = make(chan struct{})
	}
	return nil
}

// Changed returns a channel that is closed at the next write to the chip,
// so that a test waits for the display to change instead of sleeping.
func (c *Chip) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *Chip) latch(n byte, rs bool) {
	if !c.fourBit {
		c.exec(n<<4, rs) // 8-bit mode: D0..D3 are not wired, read as 0
		return
	}
	if c.high < 0 {
		c.high = int(n)
		return
	}
	v := byte(c.high)<<4 | n
	c.high = -1
	c.exec(v, rs)
}

func (c *Chip) exec(v byte, rs bool) {
	if rs {
		c.ddram[c.ac&0x7F] = v
		c.ac++
		if c.twoLines {
			switch c.ac {
			case 0x28:
				c.ac = 0x40
			case 0x68:
				c.ac = 0
			}
		} else if c.ac == 0x50 {
			c.ac = 0
		}
		return
	}
	c.instrs = append(c.instrs, v)
	switch {
	case v&0x80 != 0:
		c.ac = int(v & 0x7F)
	case v&0x20 != 0: // function set
		c.fourBit = v&0x10 == 0
		c.twoLines = v&0x08 != 0
	case v&0x08 != 0:
		c.displayOn = v&0x04 != 0
	case v == 0x01:
		for i := range c.ddram {
			c.ddram[i] = ' '
		}
		c.ac = 0
	case v&0xFE == 0x02:
		c.ac = 0
	}
}

// SetSpeed implements i2c.Bus.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Codes returns the character codes the display shows, one string per
// row (see Encode); blank if the display is off.
func (c *Chip) Codes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	base := [4]int{0x00, 0x40, c.cols, 0x40 + c.cols}
	out := make([]string, c.rows)
	for r := range out {
		if !c.displayOn {
			out[r] = strings.Repeat(" ", c.cols)
			continue
		}
		out[r] = string(c.ddram[base[r] : base[r]+c.cols])
	}
	return out
}

// Lines returns what the display shows, one string per row: the codes
// (see Codes) with 0xDF shown as '°' and other codes above 0x7D as '?'.
func (c *Chip) Lines() []string {
	out := c.Codes()
	for i, l := range out {
		var b strings.Builder
		for _, ch := range []byte(l) {
			switch {
			case ch == 0xDF:
				b.WriteRune('°')
			case ch < 0x20 || ch > 0x7D:
				b.WriteByte('?')
			default:
				b.WriteByte(ch)
			}
		}
		out[i] = b.String()
	}
	return out
}

// Backlight reports whether the backlight pin is high.
func (c *Chip) Backlight() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port&pinBacklight != 0
}

// Writes returns every byte written to the backpack, in order.
func (c *Chip) Writes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.writes...)
}

// Instructions returns every instruction the LCD received, in order (in
// 8-bit mode, the nibble sent, shifted: 0x30, 0x20).
func (c *Chip) Instructions() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.instrs...)
}

// FakeDev is a Dev opened on a simulated LCD (see Fake).
type FakeDev struct {
	*Dev
	// Chip is the simulated LCD: what it shows, and the bytes it got.
	Chip *Chip
}

// Fake returns a display at DefaultAddr on a simulated LCD of the size
// the options give (16x2 by default), so that tests and examples run
// without hardware. It panics if an option is invalid.
func Fake(opts ...Option) *FakeDev {
	cfg := config{cols: 16, rows: 2}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			panic(err)
		}
	}
	c := NewChip(DefaultAddr, cfg.cols, cfg.rows)
	d, err := Open(c, DefaultAddr, opts...)
	if err != nil {
		panic(err)
	}
	return &FakeDev{Dev: d, Chip: c}
}

var _ i2c.Bus = (*Chip)(nil)
