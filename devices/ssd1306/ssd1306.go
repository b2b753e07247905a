// Package ssd1306 drives monochrome OLED displays with a Solomon Systech
// SSD1306 controller on I2C (128x64, 128x32, 96x16), wrapping periph's
// driver (periph.io/x/devices/v3/ssd1306): lines of text in a small
// built-in font, graphics with Draw (any image.Image), and a controller
// whose String inputs are the display's lines.
//
// Text: a 5x7 font of our own in 6x8 cells (package
// devices/internal/font5x7), so a 128x64 display shows 8 lines of 21
// characters and a 128x32 one 4 lines. golang.org/x/image was not added
// for its basicfont: that font's only face is 7x13, which would give 4
// lines on a 128x64 display and 2 on a 128x32.
//
// Text and graphics share one frame: WriteLine redraws its line's band of
// 8 pixel rows, Draw replaces the whole frame; each sends what changed
// (periph sends the smallest rectangle of pages and columns that differs).
//
// What this package adds to periph's driver: any address (periph's NewI2C
// always talks to 0x3C; displays strapped to 0x3D are common), errors that
// name the bus and the address, a lock (periph's Dev is not safe for
// concurrent use), text lines, and a simulated display for tests and
// laptops. The controller has no identification register: Open detects a
// missing display (no acknowledge), not a wrong one.
//
// Datasheet: https://cdn-shop.adafruit.com/datasheets/SSD1306.pdf
package ssd1306

import (
	"fmt"
	"image"
	"image/draw"
	"strings"
	"sync"

	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/devices/internal/font5x7"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ssd1306"
	"periph.io/x/devices/v3/ssd1306/image1bit"
)

// DefaultAddr is the usual address (SA0 low); 0x3D with SA0 high.
const DefaultAddr uint16 = 0x3C

// Option configures Open.
type Option func(*ssd1306.Opts) error

// Size sets the display's width and height in pixels: 128x64 (the
// default), 128x32, 96x16 or another multiple of 8 up to 128x64.
func Size(w, h int) Option {
	return func(o *ssd1306.Opts) error {
		if w < 8 || w > 128 || w%8 != 0 || h < 8 || h > 64 || h%8 != 0 {
			return fmt.Errorf("size %dx%d: not an SSD1306 display (multiples of 8, up to 128x64)", w, h)
		}
		o.W, o.H = w, h
		return nil
	}
}

// Rotate180 shows the picture upside down, for a display mounted so.
func Rotate180() Option {
	return func(o *ssd1306.Opts) error {
		o.MirrorVertical, o.MirrorHorizontal = true, true
		return nil
	}
}

// Sequential sets the panel's COM pins to sequential, which some 128x32
// panels need (periph's Opts.Sequential: try it if every other row is
// missing).
func Sequential() Option {
	return func(o *ssd1306.Opts) error { o.Sequential = true; return nil }
}

// Dev is an opened SSD1306 display. Its methods are safe for concurrent
// use.
type Dev struct {
	name string
	bus  i2c.Bus
	addr uint16

	mu    sync.Mutex
	dev   *ssd1306.Dev
	frame *image1bit.VerticalLSB
	lines []string // what each text row shows, "" if drawn over
}

// Open initialises the display at addr on b (cleared, on) and returns it.
// It fails naming the bus and the address if no device answers.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	name := fmt.Sprintf("ssd1306 at %s address %#x", b, addr)
	o := ssd1306.DefaultOpts
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	pd, err := ssd1306.NewI2C(&atAddr{b, addr}, &o)
	if err != nil {
		return nil, chip.Errorf("ssd1306", b, addr, "no device answers: %w", err)
	}
	d := &Dev{name: name, bus: b, addr: addr, dev: pd, frame: image1bit.NewVerticalLSB(image.Rect(0, 0, o.W, o.H)), lines: make([]string, o.H/font5x7.CellHeight)}
	if err := d.send(); err != nil { // the controller's RAM is random at power-on
		return nil, d.busErrorf("clearing: %w", err)
	}
	return d, nil
}

// atAddr is b with every transfer sent to addr: periph's NewI2C always
// uses 0x3C.
type atAddr struct {
	b    i2c.Bus
	addr uint16
}

func (a *atAddr) String() string                    { return a.b.String() }
func (a *atAddr) Tx(_ uint16, w, r []byte) error    { return a.b.Tx(a.addr, w, r) }
func (a *atAddr) SetSpeed(f physic.Frequency) error { return a.b.SetSpeed(f) }

// String returns "ssd1306 at <bus> address <addr>".
func (d *Dev) String() string { return d.name }

// Bounds returns the display's rectangle, from (0, 0).
func (d *Dev) Bounds() image.Rectangle { return d.frame.Rect }

// Rows returns how many lines of text the display shows.
func (d *Dev) Rows() int { return len(d.lines) }

// Cols returns how many characters a line shows.
func (d *Dev) Cols() int { return d.frame.Rect.Dx() / font5x7.CellWidth }

// busErrorf returns an error of the display's I/O as a *bus.Error naming
// the chip, its bus and its address.
func (d *Dev) busErrorf(format string, args ...any) error {
	return chip.Errorf("ssd1306", d.bus, d.addr, format, args...)
}

// send sends the frame, d.mu held. Its error is periph's: the caller
// names the chip.
func (d *Dev) send() error {
	return d.dev.Draw(d.frame.Rect, d.frame, image.Point{})
}

// Draw shows img: the display's rectangle of img (from img's origin,
// img.Bounds().Min) replaces the frame, each pixel lit if its colour is
// lighter than mid-grey; parts of the display outside img go dark. Text
// lines written before are gone with the old frame; a line written after
// blanks its band of 8 pixel rows and is drawn over the image.
func (d *Dev) Draw(img image.Image) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.frame.Pix)
	draw.Src.Draw(d.frame, d.frame.Rect, img, img.Bounds().Min)
	clear(d.lines)
	if err := d.send(); err != nil {
		return d.busErrorf("draw: %w", err)
	}
	return nil
}

// WriteLine shows text on line row (0-based; 8 pixel rows each), cut to
// the display's width, the rest of the line dark. A line already showing
// the text is not sent again.
func (d *Dev) WriteLine(row int, text string) error {
	if row < 0 || row >= len(d.lines) {
		return fmt.Errorf("%s: no line %d (0..%d)", d.name, row, len(d.lines)-1)
	}
	if r := []rune(text); len(r) > d.Cols() {
		text = string(r[:d.Cols()])
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lines[row] == text && text != "" {
		return nil
	}
	y := row * font5x7.CellHeight
	band := image.Rect(0, y, d.frame.Rect.Dx(), y+font5x7.CellHeight)
	draw.Src.Draw(d.frame, band, image.Black, image.Point{})
	font5x7.Draw(d.frame, 0, y, text, image1bit.On, image1bit.Off)
	d.lines[row] = text
	if err := d.send(); err != nil {
		d.lines[row] = ""
		return d.busErrorf("line %d: %w", row, err)
	}
	return nil
}

// Line returns the text last written on row, "" if none or drawn over.
func (d *Dev) Line(row int) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if row < 0 || row >= len(d.lines) {
		return ""
	}
	return d.lines[row]
}

// Clear darkens the whole display.
func (d *Dev) Clear() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.frame.Pix)
	clear(d.lines)
	if err := d.send(); err != nil {
		return d.busErrorf("clear: %w", err)
	}
	return nil
}

// Frame returns a copy of the frame last drawn.
func (d *Dev) Frame() *image1bit.VerticalLSB {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := image1bit.NewVerticalLSB(d.frame.Rect)
	copy(f.Pix, d.frame.Pix)
	return f
}

// SetContrast sets the display's contrast (brightness), 0..255.
func (d *Dev) SetContrast(level byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.dev.SetContrast(level); err != nil {
		return d.busErrorf("contrast: %w", err)
	}
	return nil
}

// Halt switches the display off (its RAM kept); the next drawing switches
// it on again.
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.dev.Halt(); err != nil {
		return d.busErrorf("halt: %w", err)
	}
	return nil
}

// text returns the frame as text, '#' lit, '.' dark (for tests and
// examples).
func text(img *image1bit.VerticalLSB, r image.Rectangle) string {
	var b strings.Builder
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.BitAt(x, y) {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}
