// Package ads1x15 reads Texas Instruments' ADS1115 (16-bit) and ADS1015
// (12-bit) analog-to-digital converters over I²C as one sensor whose
// dimensions are the inputs read, in volts: the single-ended inputs "a0"
// to "a3" (each against GND), and the differential pairs "a0-a1",
// "a0-a3", "a1-a3" and "a2-a3".
//
// It wraps periph's driver (periph.io/x/devices/v3/ads1x15), which runs
// one single-shot conversion per input. The full-scale range (the
// programmable gain) bounds every dimension: ±4.096 V by default, which
// covers a Pi's 3.3 V; an input can never go beyond the chip's supply
// voltage + 0.3 V whatever the range says.
//
// The chips have no id register: Open checks that a device acknowledges
// at the address, not that it is an ADS1x15.
package ads1x15

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	pads1x15 "periph.io/x/devices/v3/ads1x15"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

// Chip is a model of the family.
type Chip uint8

// The models.
const (
	ADS1115 Chip = iota // 16 bits, 8 to 860 samples a second
	ADS1015             // 12 bits, 128 to 3300 samples a second
)

// String returns the model's name.
func (c Chip) String() string {
	if c == ADS1015 {
		return "ADS1015"
	}
	return "ADS1115"
}

// id is the model's name in errors: "ads1115" or "ads1015".
func (c Chip) id() string {
	if c == ADS1015 {
		return "ads1015"
	}
	return "ads1115"
}

// The chip's I²C addresses, chosen by wiring its ADDR pin to GND (0x48,
// most modules' default), VDD (0x49), SDA (0x4A) or SCL (0x4B).
const (
	AddrGND uint16 = 0x48
	AddrVDD uint16 = 0x49
	AddrSDA uint16 = 0x4A
	AddrSCL uint16 = 0x4B
)

// Input is an input of the multiplexer: one pin against GND, or the
// difference between two pins.
type Input uint8

// The inputs.
const (
	A0 Input = iota
	A1
	A2
	A3
	A0MinusA1
	A0MinusA3
	A1MinusA3
	A2MinusA3
)

var inputs = [...]struct {
	label string
	ch    pads1x15.Channel
}{
	{"a0", pads1x15.Channel0}, {"a1", pads1x15.Channel1}, {"a2", pads1x15.Channel2}, {"a3", pads1x15.Channel3},
	{"a0-a1", pads1x15.Channel0Minus1}, {"a0-a3", pads1x15.Channel0Minus3},
	{"a1-a3", pads1x15.Channel1Minus3}, {"a2-a3", pads1x15.Channel2Minus3},
}

// Label returns the input's dimension label, such as "a0" or "a0-a1".
func (in Input) Label() string {
	if int(in) < len(inputs) {
		return inputs[in].label
	}
	return fmt.Sprintf("input(%d)", uint8(in))
}

// The full-scale ranges of the programmable gain, in volts.
var fullScales = []float64{6.144, 4.096, 2.048, 1.024, 0.512, 0.256}

// Option configures Open.
type Option func(*config) error

type config struct {
	inputs []Input
	fs     float64
	rate   int
}

// Inputs sets the inputs read, in the order of the dimensions; each at
// most once. Default: A0, A1, A2, A3.
func Inputs(ins ...Input) Option {
	return func(c *config) error {
		if len(ins) == 0 {
			return fmt.Errorf("no inputs")
		}
		seen := map[Input]bool{}
		for _, in := range ins {
			if int(in) >= len(inputs) {
				return fmt.Errorf("%s is not an input", in.Label())
			}
			if seen[in] {
				return fmt.Errorf("input %s given twice", in.Label())
			}
			seen[in] = true
		}
		c.inputs = append([]Input(nil), ins...)
		return nil
	}
}

// FullScale sets the programmable gain by its full-scale range, in volts:
// 6.144, 4.096, 2.048, 1.024, 0.512 or 0.256; readings lie within ±fs.
// Default: 4.096.
func FullScale(fs float64) Option {
	return func(c *config) error {
		for _, v := range fullScales {
			if v == fs {
				c.fs = fs
				return nil
			}
		}
		return fmt.Errorf("full scale %g V is none of %v", fs, fullScales)
	}
}

// DataRate sets the samples a second of each conversion; the chip uses
// the slowest of its rates at least as fast (the slower, the less noise).
// Default: 128, a conversion of about 8 ms.
func DataRate(sps int) Option {
	return func(c *config) error {
		if sps <= 0 {
			return fmt.Errorf("data rate %d is not positive", sps)
		}
		c.rate = sps
		return nil
	}
}

// Describe returns the description of a chip reading ins with the
// full-scale range fs: one dimension per input, in V within ±fs.
func Describe(ins []Input, fs float64) sensors.Description {
	lo, hi := chip.Bounds(-fs, fs)
	d := sensors.Description{Unit: "V", Min: lo, Max: hi}
	for _, in := range ins {
		d.Dimensions = append(d.Dimensions, sensors.Dimension{Label: in.Label()})
	}
	return d
}

// Dev is an opened ADS1115 or ADS1015. It implements sensors.Driver; its
// methods are safe for concurrent use.
type Dev struct {
	chip Chip
	bus  i2c.Bus
	addr uint16
	dev  *pads1x15.Dev
	pins []pads1x15.PinADC
	desc sensors.Description
	run  chip.Runner
}

var _ sensors.Driver = (*Dev)(nil)

// Open opens the chip c at addr (0x48 to 0x4B) on b and prepares the
// conversions of its inputs. It reads the chip's configuration register
// to check that a device answers. Errors name the bus and the address.
func Open(b i2c.Bus, addr uint16, c Chip, opts ...Option) (*Dev, error) {
	if c != ADS1115 && c != ADS1015 {
		return nil, chip.Errorf("ads1x15", b, addr, "chip %d is neither ADS1115 nor ADS1015", c)
	}
	name := c.id()
	cfg := config{inputs: []Input{A0, A1, A2, A3}, fs: 4.096, rate: 128}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, chip.Errorf(name, b, addr, "%w", err)
		}
	}
	if addr < AddrGND || addr > AddrSCL {
		return nil, chip.Errorf(name, b, addr, "not an address of the chip (0x48 to 0x4b)")
	}
	var reg [2]byte
	if err := b.Tx(addr, []byte{0x01}, reg[:]); err != nil {
		return nil, chip.Errorf(name, b, addr, "read configuration: %w", err)
	}
	var dev *pads1x15.Dev
	var err error
	popts := pads1x15.Opts{I2cAddress: addr}
	if c == ADS1015 {
		dev, err = pads1x15.NewADS1015(b, &popts)
	} else {
		dev, err = pads1x15.NewADS1115(b, &popts)
	}
	if err != nil {
		return nil, chip.Errorf(name, b, addr, "%w", err)
	}
	d := &Dev{chip: c, bus: b, addr: addr, dev: dev, desc: Describe(cfg.inputs, cfg.fs)}
	fs := physic.ElectricPotential(cfg.fs*1000) * physic.MilliVolt
	for _, in := range cfg.inputs {
		p, err := dev.PinForChannel(inputs[in].ch, fs, physic.Frequency(cfg.rate)*physic.Hertz, pads1x15.BestQuality)
		if err != nil {
			return nil, chip.Errorf(name, b, addr, "input %s: %w", in.Label(), err)
		}
		d.pins = append(d.pins, p)
	}
	return d, nil
}

func (d *Dev) errorf(format string, args ...any) error {
	return chip.Errorf(d.chip.id(), d.bus, d.addr, format, args...)
}

// Chip returns the model opened.
func (d *Dev) Chip() Chip { return d.chip }

// String returns the chip's model, bus and address.
func (d *Dev) String() string { return fmt.Sprintf("%v at %s address %#x", d.chip, d.bus, d.addr) }

// Describe implements sensors.Driver: see the function Describe.
func (d *Dev) Describe() sensors.Description { return d.desc.Clone() }

// Read implements sensors.Driver: one conversion per input, in volts, in
// the order of the dimensions. If ctx ends first, Read returns ctx's
// error; the conversions then finish in the background and the next Read
// waits for them.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != len(d.pins) {
		return d.errorf("read into %d numbers, want %d", len(dst), len(d.pins))
	}
	v := make([]float64, len(d.pins))
	err := d.run.Do(ctx, func() error {
		for i, p := range d.pins {
			s, err := p.Read()
			if err != nil {
				return fmt.Errorf("input %s: %w", d.desc.Dimensions[i].Label, err)
			}
			v[i] = float64(s.V) / float64(physic.Volt)
		}
		return nil
	})
	if err != nil {
		return d.errorf("read: %w", err)
	}
	copy(dst, v)
	return nil
}

// Close releases the chip, which powers down between single-shot
// conversions by itself. The bus belongs to the caller.
func (d *Dev) Close() error { return d.dev.Halt() }

// Fake returns a simulated converter reading ins (A0..A3 if none) at the
// default full scale (±4.096 V), for tests and for running without
// hardware: each input wanders between 0 and 3.3 V over 5 minutes.
func Fake(ins ...Input) *fake.Driver {
	if len(ins) == 0 {
		ins = []Input{A0, A1, A2, A3}
	}
	rs := make([]chip.Range, len(ins))
	for i := range rs {
		rs[i] = chip.Range{Lo: 0, Hi: 3.3}
	}
	return chip.Waves(Describe(ins, 4.096), 5*time.Minute, rs...)
}
