// Package hd44780 drives character LCDs with a Hitachi HD44780 (or
// compatible: SPLC780, KS0066) controller, 16x2, 20x4 and the like, through
// the PCF8574 I2C "backpack" soldered onto most of them, and offers a
// controller whose String inputs are the display's lines.
//
// This is a driver of our own over devices/pcf8574 rather than a wrapper
// of periph's hd44780 (devices/v3 v3.7.4): that one takes six gpio pins,
// which over a PCF8574 costs one I2C transfer per pin change (a dozen per
// character); it has no backlight; its initialisation never sets the
// two-line mode (it sends 0x14, a cursor shift, as its function set); and
// it addresses only two rows. Here each line is one I2C transfer of the
// backpack's bytes.
//
// # Backpack wiring assumed
//
// The common backpacks (LCM1602 / YwRobot / "I2C LCD1602", PCF8574 at 0x27,
// PCF8574A at 0x3F) connect P0 = RS, P1 = R/W (always written low: the
// driver never reads the LCD), P2 = E, P3 = backlight (high = on) and
// P4..P7 = D4..D7. The LCD runs in 4-bit mode: each byte is sent as two
// nibbles, high first, each latched by a pulse of E (E high, then low,
// in two consecutive bytes of one transfer).
//
// # Initialisation
//
// Open sends the datasheet's "initializing by instruction" sequence for
// the 4-bit interface (HD44780U datasheet, figure 24), which works whatever
// state the LCD is in: after at least 40 ms of power, the nibble 0x3 three
// times (waiting 4.1 ms after the first, 100 µs after the second), the
// nibble 0x2 (4-bit mode); then the instructions function set 0x28 (4-bit,
// two lines, 5x8 dots: displays of four lines are two lines folded),
// display off 0x08, clear 0x01 (1.52 ms), entry mode 0x06 (move right, no
// shift) and display on 0x0C (no cursor, no blink).
//
// # Characters
//
// The usual character ROM (A00) has ASCII from 0x20 to 0x7D, except that
// '\' shows as '¥'; '°' is sent as 0xDF; any other character shows as '?'.
//
// Datasheet: https://www.sparkfun.com/datasheets/LCD/HD44780.pdf
package hd44780

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/devices/pcf8574"
	"periph.io/x/conn/v3/i2c"
)

// Backpack pins (see the package doc).
const (
	pinRS        = 1 << 0
	pinE         = 1 << 2
	pinBacklight = 1 << 3
)

// Instructions.
const (
	cmdClear       = 0x01
	cmdEntryMode   = 0x06 // increment, no shift
	cmdDisplayOff  = 0x08
	cmdDisplayOn   = 0x0C // display on, cursor off, blink off
	cmdFunctionSet = 0x28 // 4-bit, two lines, 5x8
	cmdSetDDRAM    = 0x80
)

// DefaultAddr is the backpack's usual address (PCF8574 with A2..A0 high);
// with a PCF8574A it is 0x3F.
const DefaultAddr uint16 = 0x27

// Option configures Open.
type Option func(*config) error

type config struct {
	cols, rows int
	backlight  bool
}

// Size sets the display's columns and rows: 16x2 (the default), 20x2,
// 16x4, 20x4, 40x2, 8x1, 16x1 and the like (at most 80 characters, 4
// rows).
func Size(cols, rows int) Option {
	return func(c *config) error {
		if cols < 1 || rows < 1 || rows > 4 || cols*rows > 80 || (rows > 2 && cols > 20) {
			return fmt.Errorf("size %dx%d: not an HD44780 display", cols, rows)
		}
		c.cols, c.rows = cols, rows
		return nil
	}
}

// Backlight sets whether the backlight is on after Open (default on).
func Backlight(on bool) Option {
	return func(c *config) error { c.backlight = on; return nil }
}

// Dev is a character LCD behind a PCF8574 backpack. Its methods are safe
// for concurrent use.
type Dev struct {
	pcf        *pcf8574.Dev
	bus        i2c.Bus
	addr       uint16
	cols, rows int

	mu        sync.Mutex
	backlight byte // pinBacklight or 0
	lines     []string
}

// Open opens the backpack's PCF8574 at addr on b and initialises the LCD
// (see the package doc); it takes about 50 ms. It fails, naming the bus
// and the address, if no device answers or a write fails. The LCD itself
// is never read: a backpack without an LCD is not detected.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	cfg := config{cols: 16, rows: 2, backlight: true}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("hd44780 at %s address %#x: %w", b, addr, err)
		}
	}
	p, err := pcf8574.Open(b, addr)
	if err != nil {
		return nil, busError(b, addr, err, "")
	}
	d := &Dev{pcf: p, bus: b, addr: addr, cols: cfg.cols, rows: cfg.rows, lines: make([]string, cfg.rows)}
	if cfg.backlight {
		d.backlight = pinBacklight
	}
	if err := d.init(); err != nil {
		return nil, busError(b, addr, err, "initialising")
	}
	return d, nil
}

// busError returns err, an error of the backpack's PCF8574, as a
// *bus.Error of the display at addr on b: the PCF8574's own *bus.Error
// names the same bus and address, so it gives way to the display's. what
// says what the display was doing ("" for nothing more).
func busError(b i2c.Bus, addr uint16, err error, what string) error {
	var be *bus.Error
	if errors.As(err, &be) && be.Err != nil {
		err = be.Err
	}
	if what == "" {
		return chip.Errorf("hd44780", b, addr, "%w", err)
	}
	return chip.Errorf("hd44780", b, addr, "%s: %w", what, err)
}

// init sends the initialisation sequence.
func (d *Dev) init() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.pcf.Write(d.backlight); err != nil { // E low
		return err
	}
	time.Sleep(50 * time.Millisecond) // power-on: > 40 ms after Vcc reaches 2.7 V
	for _, s := range []struct {
		nibble byte
		wait   time.Duration
	}{{0x3, 5 * time.Millisecond}, {0x3, 150 * time.Microsecond}, {0x3, 0}, {0x2, 0}} {
		if err := d.pcf.WriteBytes(d.nibble(s.nibble, 0, nil)); err != nil {
			return err
		}
		time.Sleep(s.wait)
	}
	for _, c := range []byte{cmdFunctionSet, cmdDisplayOff, cmdClear, cmdEntryMode, cmdDisplayOn} {
		if err := d.command(c); err != nil {
			return err
		}
	}
	return nil
}

// nibble appends to p the bytes that latch the nibble n (low 4 bits) with
// RS = rs.
func (d *Dev) nibble(n, rs byte, p []byte) []byte {
	b := n<<4 | d.backlight | rs
	return append(p, b|pinE, b)
}

// byte appends to p the bytes that send v with RS = rs.
func (d *Dev) byte(v, rs byte, p []byte) []byte {
	return d.nibble(v&0x0F, rs, d.nibble(v>>4, rs, p))
}

// command sends instruction c and waits for it, d.mu held.
func (d *Dev) command(c byte) error {
	if err := d.pcf.WriteBytes(d.byte(c, 0, nil)); err != nil {
		return err
	}
	if c == cmdClear || c == 0x02 {
		time.Sleep(2 * time.Millisecond) // 1.52 ms
	}
	// Other instructions and data writes take 37 µs (43 µs): the next
	// nibble is latched two bytes later at the earliest, 180 µs at the
	// PCF8574's 100 kHz (45 µs even at 400 kHz).
	return nil
}

// rowAddr returns the DDRAM address of the first character of row r.
func (d *Dev) rowAddr(r int) byte {
	base := [4]byte{0x00, 0x40, byte(d.cols), 0x40 + byte(d.cols)}
	return base[r]
}

// Encode returns the display's character codes for s (see the package
// doc).
func Encode(s string) []byte {
	var b []byte
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7D:
			b = append(b, byte(r))
		case r == '°':
			b = append(b, 0xDF)
		default:
			b = append(b, '?')
		}
	}
	return b
}

// WriteLine shows text on row (0-based), padded with spaces or cut to the
// display's width, in one I2C transfer. A line already showing the text is
// not written again.
func (d *Dev) WriteLine(row int, text string) error {
	if row < 0 || row >= d.rows {
		return fmt.Errorf("hd44780 on %s: no row %d (0..%d)", d.pcf, row, d.rows-1)
	}
	c := Encode(text)
	if len(c) > d.cols {
		c = c[:d.cols]
	}
	for len(c) < d.cols {
		c = append(c, ' ')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lines[row] == string(c) {
		return nil
	}
	p := d.byte(cmdSetDDRAM|d.rowAddr(row), 0, nil)
	for _, ch := range c {
		p = d.byte(ch, pinRS, p)
	}
	if err := d.pcf.WriteBytes(p); err != nil {
		d.lines[row] = "" // unknown
		return busError(d.bus, d.addr, err, fmt.Sprintf("row %d", row))
	}
	d.lines[row] = string(c)
	return nil
}

// Clear blanks the display.
func (d *Dev) Clear() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.command(cmdClear); err != nil {
		return busError(d.bus, d.addr, err, "clear")
	}
	for i := range d.lines {
		d.lines[i] = strings.Repeat(" ", d.cols)
	}
	return nil
}

// SetBacklight switches the backlight on or off.
func (d *Dev) SetBacklight(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backlight = 0
	if on {
		d.backlight = pinBacklight
	}
	if err := d.pcf.Write(d.backlight); err != nil {
		return busError(d.bus, d.addr, err, "backlight")
	}
	return nil
}

// Halt clears the display and switches its backlight off.
func (d *Dev) Halt() error {
	if err := d.Clear(); err != nil {
		return err
	}
	return d.SetBacklight(false)
}

// Size returns the display's columns and rows.
func (d *Dev) Size() (cols, rows int) { return d.cols, d.rows }

// String names the display and its backpack.
func (d *Dev) String() string { return fmt.Sprintf("hd44780 %dx%d on %s", d.cols, d.rows, d.pcf) }
