// Package bh1750 reads ROHM's BH1750FVI ambient light sensor over I²C as
// a sensor of one dimension in lux.
//
// It is a small driver of its own rather than a wrapper of periph's
// (periph.io/x/devices/v3/bh1750, v3.7.4), which truncates readings to
// whole lux (its float result is converted to an integer before scaling),
// never sends the Power On command (SetMode writes Reset whatever the
// mode), so that its Halt does not power the chip down either, and offers
// no measurement-time setting.
//
// Each Read sends a one-time measurement command, after which the chip
// powers itself down, waits the datasheet's maximum measurement time and
// reads the result: lux = count / 1.2 × 69 / MTreg (÷ 2 in HighRes2
// mode).
package bh1750

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

// The chip's I²C addresses: 0x23 with its ADDR pin low (most modules'
// default), 0x5C with it high.
const (
	AddrLow  uint16 = 0x23
	AddrHigh uint16 = 0x5C
)

// Mode is a resolution mode of the datasheet.
type Mode uint8

// The one-time measurement modes (their command bytes).
const (
	// HighRes measures in steps of 1 lx in 120 ms (180 ms at most).
	HighRes Mode = 0x20
	// HighRes2 measures in steps of 0.5 lx in 120 ms, for dim light.
	HighRes2 Mode = 0x21
	// LowRes measures in steps of 4 lx in 16 ms (24 ms at most).
	LowRes Mode = 0x23
)

// Commands of the datasheet.
const (
	cmdPowerDown = 0x00
	cmdPowerOn   = 0x01
)

// DefaultMTreg is the measurement time register's default value.
const DefaultMTreg = 69

// Option configures Open.
type Option func(*config) error

type config struct {
	mode Mode
	mt   int
}

// Resolution sets the measuring mode. Default: HighRes.
func Resolution(m Mode) Option {
	return func(c *config) error {
		switch m {
		case HighRes, HighRes2, LowRes:
			c.mode = m
			return nil
		}
		return fmt.Errorf("mode %#x is none of HighRes, HighRes2, LowRes", uint8(m))
	}
}

// MeasurementTime sets the measurement time register (31..254): above
// 69 the chip integrates longer and resolves dimmer light, below it
// reaches brighter light (up to about 121,000 lx at 31). Default: 69.
func MeasurementTime(mt int) Option {
	return func(c *config) error {
		if mt < 31 || mt > 254 {
			return fmt.Errorf("measurement time %d is outside 31..254", mt)
		}
		c.mt = mt
		return nil
	}
}

// Describe returns the description of a chip measuring in mode m with
// measurement time register mt: lux from 0 to the largest count's value.
func Describe(m Mode, mt int) sensors.Description {
	lo, hi := chip.Bounds(0, luxOf(0xFFFF, m, mt))
	return sensors.Description{Unit: "lx", Min: lo, Max: hi}
}

func luxOf(count uint16, m Mode, mt int) float64 {
	lux := float64(count) / 1.2 * DefaultMTreg / float64(mt)
	if m == HighRes2 {
		lux /= 2
	}
	return lux
}

// wait returns the datasheet's maximum measurement time.
func wait(m Mode, mt int) time.Duration {
	max := 180 * time.Millisecond
	if m == LowRes {
		max = 24 * time.Millisecond
	}
	return max * time.Duration(mt) / DefaultMTreg
}

// Dev is an opened BH1750. It implements sensors.Driver; its methods are
// safe for concurrent use.
type Dev struct {
	dev  i2c.Dev
	mode Mode
	mt   int
	desc sensors.Description
	run  chip.Runner
}

var _ sensors.Driver = (*Dev)(nil)

// Open opens the chip at addr (AddrLow or AddrHigh) on b: it powers it on
// and sets its measurement time. The chip has no id register: a device of
// another kind that acknowledges these writes goes unnoticed until its
// readings look wrong. Errors name the bus and the address.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	cfg := config{mode: HighRes, mt: DefaultMTreg}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, chip.Errorf("bh1750", b, addr, "%w", err)
		}
	}
	if addr != AddrLow && addr != AddrHigh {
		return nil, chip.Errorf("bh1750", b, addr, "not an address of the chip (0x23 or 0x5c)")
	}
	d := &Dev{dev: i2c.Dev{Bus: b, Addr: addr}, mode: cfg.mode, mt: cfg.mt, desc: Describe(cfg.mode, cfg.mt)}
	if err := d.dev.Tx([]byte{cmdPowerOn}, nil); err != nil {
		return nil, d.errorf("power on: %w", err)
	}
	if cfg.mt != DefaultMTreg {
		mt := byte(cfg.mt)
		if err := d.dev.Tx([]byte{0x40 | mt>>5}, nil); err != nil {
			return nil, d.errorf("set measurement time: %w", err)
		}
		if err := d.dev.Tx([]byte{0x60 | mt&0x1F}, nil); err != nil {
			return nil, d.errorf("set measurement time: %w", err)
		}
	}
	return d, nil
}

func (d *Dev) errorf(format string, args ...any) error {
	return chip.Errorf("bh1750", d.dev.Bus, d.dev.Addr, format, args...)
}

// String returns the chip's bus and address.
func (d *Dev) String() string { return fmt.Sprintf("bh1750 at %s address %#x", d.dev.Bus, d.dev.Addr) }

// Describe implements sensors.Driver: see the function Describe.
func (d *Dev) Describe() sensors.Description { return d.desc.Clone() }

// Read implements sensors.Driver: one measurement, in lux. If ctx ends
// first, Read returns ctx's error; the measurement then finishes in the
// background and the next Read waits for it.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return d.errorf("read into %d numbers, want 1", len(dst))
	}
	var buf [2]byte
	err := d.run.Do(ctx, func() error {
		if err := d.dev.Tx([]byte{byte(d.mode)}, nil); err != nil {
			return err
		}
		time.Sleep(wait(d.mode, d.mt)) // the datasheet's maximum; the chip gives no "ready"
		return d.dev.Tx(nil, buf[:])
	})
	if err != nil {
		return d.errorf("read: %w", err)
	}
	dst[0] = luxOf(binary.BigEndian.Uint16(buf[:]), d.mode, d.mt)
	return nil
}

// Close powers the chip down. The bus belongs to the caller.
func (d *Dev) Close() error {
	if err := d.dev.Tx([]byte{cmdPowerDown}, nil); err != nil {
		return d.errorf("power down: %w", err)
	}
	return nil
}

// Fake returns a simulated BH1750 with the default settings'
// description, for tests and for running without hardware: daylight
// indoors, 100..800 lx, over 20 minutes.
func Fake() *fake.Driver {
	return chip.Waves(Describe(HighRes, DefaultMTreg), 20*time.Minute, chip.Range{Lo: 100, Hi: 800})
}
