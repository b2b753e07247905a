// Package tsl2561 reads the TAOS (ams) TSL2561 light-to-digital converter
// over I²C as a sensor of one dimension in lux. periph has no driver for
// it; this is a small one of its own, in the shape of periph's.
//
// The chip has two photodiodes: channel 0 sees visible and infrared
// light, channel 1 infrared only. Lux follows from both counts by the
// datasheet's piecewise formula ("Calculating Lux"), whose coefficients
// differ between the CS package and the T, FN and CL packages; the chip's
// ID register tells them apart. The formula is stated for a gain of 16
// and an integration time of 402 ms; other settings scale the counts
// first.
//
// Each Read powers the chip up, waits one integration time, reads both
// channels and powers it down. A channel at its largest count (the chip
// is saturated: too much light for the gain and integration time) is an
// error that says so, never a wrong number.
package tsl2561

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

// The chip's I²C addresses, chosen by its ADDR SEL pin: 0x29 to ground,
// 0x39 floating (most modules' default), 0x49 to VDD.
const (
	AddrLow   uint16 = 0x29
	AddrFloat uint16 = 0x39
	AddrHigh  uint16 = 0x49
)

// Gain is the gain of the chip's ADCs.
type Gain uint8

// The gains.
const (
	Gain1  Gain = 1
	Gain16 Gain = 16
)

// Integration is the chip's integration time.
type Integration uint8

// The integration times of the datasheet (register TIMING, bits INTEG).
const (
	Integrate13ms  Integration = 0 // 13.7 ms, counts up to 5047
	Integrate101ms Integration = 1 // 101 ms, counts up to 37177
	Integrate402ms Integration = 2 // 402 ms, counts up to 65535
)

var integ = [...]struct {
	d     time.Duration
	max   uint16  // the counts' ceiling (saturation)
	scale float64 // to 402 ms: 402 / 13.7 and 402 / 101 (the datasheet's 322/11 and 322/81)
}{
	{13700 * time.Microsecond, 5047, 322.0 / 11},
	{101 * time.Millisecond, 37177, 322.0 / 81},
	{402 * time.Millisecond, 65535, 1},
}

// Package is the chip's package, which sets the lux formula's
// coefficients.
type Package uint8

// The packages.
const (
	PackageT  Package = iota // T, FN and CL packages
	PackageCS                // chipscale package
)

// Registers and command bits of the datasheet.
const (
	cmd        = 0x80
	cmdWord    = 0x20
	regControl = 0x0
	regTiming  = 0x1
	regID      = 0xA
	regData0   = 0xC
	regData1   = 0xE
	powerOn    = 0x03
	powerOff   = 0x00
)

// Option configures Open.
type Option func(*config) error

type config struct {
	gain  Gain
	integ Integration
}

// WithGain sets the gain: Gain1 for daylight, Gain16 for dim light.
// Default: Gain1.
func WithGain(g Gain) Option {
	return func(c *config) error {
		if g != Gain1 && g != Gain16 {
			return fmt.Errorf("gain %d is neither 1 nor 16", g)
		}
		c.gain = g
		return nil
	}
}

// WithIntegration sets the integration time; longer is more sensitive.
// Default: Integrate402ms.
func WithIntegration(i Integration) Option {
	return func(c *config) error {
		if int(i) >= len(integ) {
			return fmt.Errorf("integration %d is none of Integrate13ms, Integrate101ms, Integrate402ms", i)
		}
		c.integ = i
		return nil
	}
}

// Describe returns the description of a chip of package p with gain g
// and integration time i: lux from 0 to the most the formula gives below
// saturation.
func Describe(p Package, g Gain, i Integration) sensors.Description {
	c := coefficients[p][0]
	lo, hi := chip.Bounds(0, c.a*float64(integ[i].max)*scale(g, i))
	return sensors.Description{Unit: "lx", Min: lo, Max: hi}
}

// scale is the factor that turns counts at gain g and integration time i
// into counts at gain 16 and 402 ms.
func scale(g Gain, i Integration) float64 {
	s := integ[i].scale
	if g == Gain1 {
		s *= 16
	}
	return s
}

// segment is one piece of the lux formula: for ratios up to r,
// lux = a·ch0 − b·ch1, or, with pow set, a·ch0 − b·ch0·ratio^1.4.
type segment struct {
	r, a, b float64
	pow     bool
}

// coefficients are the datasheet's, by package.
var coefficients = [...][]segment{
	PackageT: {
		{0.50, 0.0304, 0.062, true},
		{0.61, 0.0224, 0.031, false},
		{0.80, 0.0128, 0.0153, false},
		{1.30, 0.00146, 0.00112, false},
	},
	PackageCS: {
		{0.52, 0.0315, 0.0593, true},
		{0.65, 0.0229, 0.0291, false},
		{0.80, 0.0157, 0.0180, false},
		{1.30, 0.00338, 0.00260, false},
	},
}

// Lux returns the datasheet's lux for the counts ch0 and ch1 of a chip of
// package p at gain 16 and 402 ms (scale other counts first).
func Lux(p Package, ch0, ch1 float64) float64 {
	if ch0 <= 0 {
		return 0
	}
	ratio := ch1 / ch0
	for _, s := range coefficients[p] {
		if ratio <= s.r {
			if s.pow {
				return max(0, s.a*ch0-s.b*ch0*math.Pow(ratio, 1.4))
			}
			return max(0, s.a*ch0-s.b*ch1)
		}
	}
	return 0
}

// Dev is an opened TSL2561. It implements sensors.Driver; its methods are
// safe for concurrent use.
type Dev struct {
	dev  i2c.Dev
	pkg  Package
	cfg  config
	desc sensors.Description
	run  chip.Runner
}

var _ sensors.Driver = (*Dev)(nil)

// Open opens the chip at addr (AddrLow, AddrFloat or AddrHigh) on b,
// checks its ID register (a TSL2560 or TSL2561, which share the formula),
// and sets its gain and integration time. Errors name the bus and the
// address.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	cfg := config{gain: Gain1, integ: Integrate402ms}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, chip.Errorf("tsl2561", b, addr, "%w", err)
		}
	}
	if addr != AddrLow && addr != AddrFloat && addr != AddrHigh {
		return nil, chip.Errorf("tsl2561", b, addr, "not an address of the chip (0x29, 0x39 or 0x49)")
	}
	d := &Dev{dev: i2c.Dev{Bus: b, Addr: addr}, cfg: cfg}
	var id [1]byte
	if err := d.dev.Tx([]byte{cmd | regID}, id[:]); err != nil {
		return nil, d.errorf("read id: %w", err)
	}
	// PARTNO (bits 7:4): 0 TSL2560CS, 1 TSL2561CS, 4 TSL2560T/FN/CL,
	// 5 TSL2561T/FN/CL.
	switch id[0] >> 4 {
	case 0x0, 0x1:
		d.pkg = PackageCS
	case 0x4, 0x5:
		d.pkg = PackageT
	default:
		return nil, d.errorf("id %#02x is not a TSL2560 or TSL2561 (part number 0, 1, 4 or 5 in bits 7:4)", id[0])
	}
	timing := byte(cfg.integ)
	if cfg.gain == Gain16 {
		timing |= 0x10
	}
	if err := d.dev.Tx([]byte{cmd | regTiming, timing}, nil); err != nil {
		return nil, d.errorf("set timing: %w", err)
	}
	d.desc = Describe(d.pkg, cfg.gain, cfg.integ)
	return d, nil
}

func (d *Dev) errorf(format string, args ...any) error {
	return chip.Errorf("tsl2561", d.dev.Bus, d.dev.Addr, format, args...)
}

// Package returns the package the chip's ID names.
func (d *Dev) Package() Package { return d.pkg }

// String returns the chip's bus and address.
func (d *Dev) String() string {
	return fmt.Sprintf("tsl2561 at %s address %#x", d.dev.Bus, d.dev.Addr)
}

// Describe implements sensors.Driver: see the function Describe.
func (d *Dev) Describe() sensors.Description { return d.desc.Clone() }

// Read implements sensors.Driver: one measurement, in lux. If ctx ends
// first, Read returns ctx's error; the measurement then finishes in the
// background and the next Read waits for it.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return d.errorf("read into %d numbers, want 1", len(dst))
	}
	var ch0, ch1 [2]byte
	err := d.run.Do(ctx, func() error {
		if err := d.dev.Tx([]byte{cmd | regControl, powerOn}, nil); err != nil {
			return fmt.Errorf("power on: %w", err)
		}
		// One integration, and a little more: the chip's clock has a
		// tolerance.
		time.Sleep(integ[d.cfg.integ].d * 11 / 10)
		if err := d.dev.Tx([]byte{cmd | cmdWord | regData0}, ch0[:]); err != nil {
			return fmt.Errorf("read channel 0: %w", err)
		}
		if err := d.dev.Tx([]byte{cmd | cmdWord | regData1}, ch1[:]); err != nil {
			return fmt.Errorf("read channel 1: %w", err)
		}
		if err := d.dev.Tx([]byte{cmd | regControl, powerOff}, nil); err != nil {
			return fmt.Errorf("power off: %w", err)
		}
		return nil
	})
	if err != nil {
		return d.errorf("read: %w", err)
	}
	c0, c1 := binary.LittleEndian.Uint16(ch0[:]), binary.LittleEndian.Uint16(ch1[:])
	if top := integ[d.cfg.integ].max; c0 >= top || c1 >= top {
		return d.errorf("saturated (channel 0 %d, channel 1 %d, ceiling %d): too bright for gain %d and %v; lower either",
			c0, c1, top, d.cfg.gain, integ[d.cfg.integ].d)
	}
	s := scale(d.cfg.gain, d.cfg.integ)
	dst[0] = Lux(d.pkg, float64(c0)*s, float64(c1)*s)
	return nil
}

// Close powers the chip down. The bus belongs to the caller.
func (d *Dev) Close() error {
	if err := d.dev.Tx([]byte{cmd | regControl, powerOff}, nil); err != nil {
		return d.errorf("power down: %w", err)
	}
	return nil
}

// Fake returns a simulated TSL2561 (T package, gain 1, 402 ms), for
// tests and for running without hardware: 50..600 lx over 20 minutes.
func Fake() *fake.Driver {
	return chip.Waves(Describe(PackageT, Gain1, Integrate402ms), 20*time.Minute, chip.Range{Lo: 50, Hi: 600})
}
