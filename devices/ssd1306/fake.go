package ssd1306

import (
	"fmt"
	"image"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// Chip simulates an SSD1306 on an I2C bus, for tests and for examples on a
// laptop: an i2c.Bus that interprets the controller's command and data
// streams into its display RAM (8 pages of 128 columns), so a test can
// check pixels. It follows the column and page address commands of page
// addressing (0xB0..0xB7, 0x00..0x1F) and the column and page ranges of
// horizontal addressing (0x21, 0x22), in whichever mode; the panel's
// remapping (segment and COM scan) is not applied: Pixel(x, y) is RAM
// column x, row y, as periph's driver maps images onto it. Its methods are
// safe for concurrent use.
type Chip struct {
	addr uint16
	w, h int

	mu                 sync.Mutex
	ram                [8][128]byte
	page, col          int
	colStart, colEnd   int
	pageStart, pageEnd int
	on                 bool
	contrast           byte
	pending            []byte // a command waiting for its arguments
	changed            chan struct{}
}

// argCount gives the number of argument bytes of the commands that have
// any.
var argCount = map[byte]int{
	0x20: 1, 0x21: 2, 0x22: 2, 0x26: 6, 0x27: 6, 0x29: 5, 0x2A: 5, 0x81: 1, 0x8D: 1,
	0xA3: 2, 0xA8: 1, 0xD3: 1, 0xD5: 1, 0xD9: 1, 0xDA: 1, 0xDB: 1,
}

// NewChip returns a simulated w x h display at addr, off, its RAM blank.
func NewChip(addr uint16, w, h int) *Chip {
	return &Chip{addr: addr, w: w, h: h, colEnd: 127, pageEnd: 7, contrast: 0x7F, changed: make(chan struct{})}
}

// String implements conn.Resource.
func (c *Chip) String() string { return "fake-I2C" }

// Tx implements i2c.Bus: a write's first byte is the control byte, 0x00
// for a stream of commands, 0x40 for a stream of display data. Another
// address does not answer.
func (c *Chip) Tx(addr uint16, w, r []byte) error {
	if addr != c.addr {
		return fmt.Errorf("ssd1306 fake: no device at address %#x", addr)
	}
	if len(r) != 0 || len(w) == 0 {
		return fmt.Errorf("ssd1306 fake: only writes with a control byte are supported")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch w[0] {
	case 0x00:
		for _, b := range w[1:] {
			c.command(b)
		}
	case 0x40:
		for _, b := range w[1:] {
			c.data(b)
		}
	default:
		return fmt.Errorf("ssd1306 fake: control byte %#x not supported", w[0])
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (c *Chip) command(b byte) {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b)
		if len(c.pending) <= argCount[c.pending[0]] {
			return
		}
		p := c.pending
		c.pending = nil
		switch p[0] {
		case 0x21:
			c.colStart, c.colEnd, c.col = int(p[1]&0x7F), int(p[2]&0x7F), int(p[1]&0x7F)
		case 0x22:
			c.pageStart, c.pageEnd, c.page = int(p[1]&7), int(p[2]&7), int(p[1]&7)
		case 0x81:
			c.contrast = p[1]
		}
		return
	}
	if argCount[b] > 0 {
		c.pending = []byte{b}
		return
	}
	switch {
	case b == 0xAE:
		c.on = false
	case b == 0xAF:
		c.on = true
	case b >= 0xB0 && b <= 0xB7:
		c.page = int(b & 7)
	case b <= 0x0F:
		c.col = c.col&0xF0 | int(b)
	case b >= 0x10 && b <= 0x1F:
		c.col = c.col&0x0F | int(b&0x0F)<<4
	}
}

func (c *Chip) data(b byte) {
	c.ram[c.page][c.col&0x7F] = b
	if c.col == c.colEnd {
		c.col = c.colStart
		if c.page == c.pageEnd {
			c.page = c.pageStart
		} else {
			c.page = (c.page + 1) & 7
		}
		return
	}
	c.col = (c.col + 1) & 0x7F
}

// SetSpeed implements i2c.Bus.
func (c *Chip) SetSpeed(physic.Frequency) error { return nil }

// Pixel reports whether the pixel at (x, y) is lit in the display's RAM.
func (c *Chip) Pixel(x, y int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ram[y/8][x]&(1<<(y%8)) != 0
}

// Frame returns the display's RAM as an image of the display's size.
func (c *Chip) Frame() *image1bit.VerticalLSB {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := image1bit.NewVerticalLSB(image.Rect(0, 0, c.w, c.h))
	for p := range c.h / 8 {
		copy(img.Pix[p*c.w:(p+1)*c.w], c.ram[p][:c.w])
	}
	return img
}

// Text returns the pixels of r, one line of text per row of pixels, '#'
// lit and '.' dark.
func (c *Chip) Text(r image.Rectangle) string { return text(c.Frame(), r) }

// On reports whether the display is switched on.
func (c *Chip) On() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on
}

// Contrast returns the contrast last set.
func (c *Chip) Contrast() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.contrast
}

// Changed returns a channel that is closed at the next write to the chip,
// so that a test waits for the display to change instead of sleeping.
func (c *Chip) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// FakeDev is a Dev opened on a simulated display (see Fake).
type FakeDev struct {
	*Dev
	// Chip is the simulated display: its pixels.
	Chip *Chip
}

// Fake returns a display at DefaultAddr on a simulated SSD1306 of the size
// the options give (128x64 by default), so that tests and examples run
// without hardware. It panics if an option is invalid.
func Fake(opts ...Option) *FakeDev {
	o := ssd1306.DefaultOpts
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			panic(err)
		}
	}
	c := NewChip(DefaultAddr, o.W, o.H)
	d, err := Open(c, DefaultAddr, opts...)
	if err != nil {
		panic(err)
	}
	return &FakeDev{Dev: d, Chip: c}
}

var _ i2c.Bus = (*Chip)(nil)
