// Package bmxx80 reads Bosch's BMP180, BMP280 and BME280 environmental
// sensors over I²C as one sensor with the dimensions "temperature" (°C),
// "pressure" (hPa) and, on a BME280 only, "humidity" (% RH), each with
// the operating range of its datasheet.
//
// It wraps periph's driver (periph.io/x/devices/v3/bmxx80), which does the
// datasheets' integer compensation; this package adds the chip check, the
// sensors.Driver shape, reads that honour a context, and a fake.
//
// Pressure is in hectopascals (hPa, equal to millibars), as Kervi and
// weather reports give it; multiply by 100 for pascals.
//
// The chip measures on demand (forced mode: one measurement per Read,
// asleep in between), with the oversampling of option Oversampling. The
// BMP280/BME280's IIR filter is not offered: it needs the chip's normal
// (free-running) mode; read more often with more oversampling instead.
//
// Open reads the chip id (register 0xD0) first, so that a missing chip, a
// chip of another kind, or one other than the one the application wants
// (option Want) is an error naming the bus and the address.
package bmxx80

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	pbmxx80 "periph.io/x/devices/v3/bmxx80"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

// Chip is a kind of chip of the family, named by its chip id.
type Chip uint8

// The chips of the family; each value is the chip's id (register 0xD0).
const (
	BMP180 Chip = 0x55
	BMP280 Chip = 0x58
	BME280 Chip = 0x60
)

// String returns the chip's name, such as "BME280".
func (c Chip) String() string {
	switch c {
	case BMP180:
		return "BMP180"
	case BMP280:
		return "BMP280"
	case BME280:
		return "BME280"
	}
	return fmt.Sprintf("unknown chip (id %#x)", uint8(c))
}

// The I²C addresses of the family. The BMP180 answers at 0x77 only; a
// BMP280 or BME280 at 0x76 with its SDO pin low, 0x77 with it high.
const (
	Addr76 uint16 = 0x76
	Addr77 uint16 = 0x77
)

// Ranges of the datasheets' operating conditions (BMP180, BMP280 and
// BME280 alike): pressure 300..1100 hPa, temperature -40..85 °C, relative
// humidity 0..100 %.
const (
	MinTemperature, MaxTemperature = -40, 85
	MinPressure, MaxPressure       = 300, 1100
	MinHumidity, MaxHumidity       = 0, 100
)

// Describe returns the description of chip c's readings: temperature and
// pressure, and humidity for a BME280.
func Describe(c Chip) sensors.Description {
	tmin, tmax := chip.Bounds(MinTemperature, MaxTemperature)
	pmin, pmax := chip.Bounds(MinPressure, MaxPressure)
	d := sensors.Description{Dimensions: []sensors.Dimension{
		{Label: "temperature", Unit: "°C", Min: tmin, Max: tmax},
		{Label: "pressure", Unit: "hPa", Min: pmin, Max: pmax},
	}}
	if c == BME280 {
		hmin, hmax := chip.Bounds(MinHumidity, MaxHumidity)
		d.Dimensions = append(d.Dimensions, sensors.Dimension{Label: "humidity", Unit: "%", Min: hmin, Max: hmax})
	}
	return d
}

// Option configures Open.
type Option func(*config) error

type config struct {
	want Chip
	os   pbmxx80.Oversampling
}

// Want makes Open fail unless the chip found is c.
func Want(c Chip) Option {
	return func(cfg *config) error {
		switch c {
		case BMP180, BMP280, BME280:
			cfg.want = c
			return nil
		}
		return fmt.Errorf("want %v: not a chip of the family", c)
	}
}

// Oversampling sets how many samples the chip averages into each
// reading: 1, 2, 4, 8 or 16 (the BMP180 stops at 8, and 16 means 8
// there). More samples mean less noise and a longer read (up to about
// 100 ms at 16 on a BME280). Default: 4.
func Oversampling(n int) Option {
	return func(cfg *config) error {
		switch n {
		case 1:
			cfg.os = pbmxx80.O1x
		case 2:
			cfg.os = pbmxx80.O2x
		case 4:
			cfg.os = pbmxx80.O4x
		case 8:
			cfg.os = pbmxx80.O8x
		case 16:
			cfg.os = pbmxx80.O16x
		default:
			return fmt.Errorf("oversampling %d is none of 1, 2, 4, 8, 16", n)
		}
		return nil
	}
}

// Dev is an opened chip of the family. It implements sensors.Driver; its
// methods are safe for concurrent use.
type Dev struct {
	dev  *pbmxx80.Dev
	chip Chip
	desc sensors.Description
	bus  i2c.Bus
	addr uint16
	run  chip.Runner
}

var _ sensors.Driver = (*Dev)(nil)

// Open opens the chip at address addr (Addr76 or Addr77) on bus b, checks
// its chip id and calibration, and configures it for forced (one-shot)
// measurements: it draws almost no current between reads. Errors name the
// bus and the address.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	cfg := config{os: pbmxx80.O4x}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, chip.Errorf("bmxx80", b, addr, "%w", err)
		}
	}
	if addr != Addr76 && addr != Addr77 {
		return nil, chip.Errorf("bmxx80", b, addr, "not an address of the family (0x76 or 0x77)")
	}
	var id [1]byte
	if err := b.Tx(addr, []byte{0xD0}, id[:]); err != nil {
		return nil, chip.Errorf("bmxx80", b, addr, "read chip id: %w", err)
	}
	c := Chip(id[0])
	switch {
	case c != BMP180 && c != BMP280 && c != BME280:
		return nil, chip.Errorf("bmxx80", b, addr, "chip id %#x is none of BMP180 (0x55), BMP280 (0x58), BME280 (0x60)", id[0])
	case cfg.want != 0 && c != cfg.want:
		return nil, chip.Errorf("bmxx80", b, addr, "found %v (chip id %#x), want %v (chip id %#x)", c, id[0], cfg.want, uint8(cfg.want))
	}
	popts := pbmxx80.Opts{Temperature: cfg.os, Pressure: cfg.os, Humidity: cfg.os}
	dev, err := pbmxx80.NewI2C(b, addr, &popts)
	if err != nil {
		return nil, chip.Errorf(lower(c), b, addr, "%w", err)
	}
	return &Dev{dev: dev, chip: c, desc: Describe(c), bus: b, addr: addr}, nil
}

func lower(c Chip) string {
	switch c {
	case BMP180:
		return "bmp180"
	case BMP280:
		return "bmp280"
	}
	return "bme280"
}

// Chip returns the kind of chip found.
func (d *Dev) Chip() Chip { return d.chip }

// String returns the chip's name, bus and address.
func (d *Dev) String() string { return fmt.Sprintf("%v at %s address %#x", d.chip, d.bus, d.addr) }

// Describe implements sensors.Driver: see the function Describe.
func (d *Dev) Describe() sensors.Description { return d.desc.Clone() }

// Read implements sensors.Driver: it triggers one measurement and fills
// dst with temperature (°C), pressure (hPa) and, on a BME280, humidity
// (%). If ctx ends first, Read returns ctx's error; the measurement then
// finishes in the background and the next Read waits for it.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != d.desc.Len() {
		return chip.Errorf(lower(d.chip), d.bus, d.addr, "read into %d numbers, want %d", len(dst), d.desc.Len())
	}
	var e physic.Env
	if err := d.run.Do(ctx, func() error { return d.dev.Sense(&e) }); err != nil {
		return chip.Errorf(lower(d.chip), d.bus, d.addr, "read: %w", err)
	}
	dst[0] = e.Temperature.Celsius()
	dst[1] = float64(e.Pressure) / float64(100*physic.Pascal)
	if d.chip == BME280 {
		dst[2] = float64(e.Humidity) / float64(physic.PercentRH)
	}
	return nil
}

// Close puts the chip to sleep. The bus stays open: it belongs to the
// caller.
func (d *Dev) Close() error {
	if err := d.dev.Halt(); err != nil {
		return chip.Errorf(lower(d.chip), d.bus, d.addr, "close: %w", err)
	}
	return nil
}

// Fake returns a simulated chip c, with c's description, for tests and
// for running without hardware: temperature 15..25 °C, pressure
// 1000..1025 hPa, humidity 40..60 %, drifting over 10 minutes.
func Fake(c Chip) *fake.Driver {
	desc := Describe(c)
	return chip.Waves(desc, 10*time.Minute, []chip.Range{{Lo: 15, Hi: 25}, {Lo: 1000, Hi: 1025}, {Lo: 40, Hi: 60}}[:desc.Len()]...)
}
