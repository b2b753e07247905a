// Package mpu reads InvenSense's MPU-6050 and MPU-6500/MPU-9250/MPU-9255
// motion sensors over I²C as one sensor of six dimensions: acceleration
// "accel_x", "accel_y", "accel_z" in g and rotation "gyro_x", "gyro_y",
// "gyro_z" in °/s, each within the full-scale range chosen (by default
// the chip's reset ranges, ±2 g and ±250 °/s). The MPU-9250's
// magnetometer (a separate AK8963 behind the chip) and the temperature are
// not read.
//
// It is a small driver of its own for the whole family, whose
// accelerometer and gyroscope registers are the same. periph has no
// MPU-6050 driver, and its mpu9250 driver (periph.io/x/devices/v3/mpu9250,
// v3.7.4) was not wrapped: its Init writes 0x01 to PWR_MGMT_2, which
// disables the gyroscope's Z axis (DISABLE_ZG), so that reading the
// rotation fails; it reads each axis as two single-byte transactions
// (plus a read of PWR_MGMT_2 per axis), so the bytes of one reading can
// come from different samples; it checks no WHO_AM_I; and its
// SetAccelRange expects a value already shifted into place, contrary to
// its doc. This driver reads all six axes in one 14-byte burst from
// ACCEL_XOUT_H, so a reading is one sample.
package mpu

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

// Chip is a model of the family, named by its WHO_AM_I value.
type Chip uint8

// The models.
const (
	MPU6050 Chip = 0x68
	MPU6500 Chip = 0x70
	MPU9250 Chip = 0x71
	MPU9255 Chip = 0x73
)

// String returns the model's name.
func (c Chip) String() string {
	switch c {
	case MPU6050:
		return "MPU-6050"
	case MPU6500:
		return "MPU-6500"
	case MPU9250:
		return "MPU-9250"
	case MPU9255:
		return "MPU-9255"
	}
	return fmt.Sprintf("unknown chip (WHO_AM_I %#02x)", uint8(c))
}

// The chip's I²C addresses: 0x68 with its AD0 pin low (most modules'
// default), 0x69 with it high.
const (
	AddrLow  uint16 = 0x68
	AddrHigh uint16 = 0x69
)

// Registers of the register maps.
const (
	regConfig      = 0x1A
	regGyroConfig  = 0x1B
	regAccelConfig = 0x1C
	regAccelXOutH  = 0x3B
	regPwrMgmt1    = 0x6B
	regWhoAmI      = 0x75
)

// Full-scale ranges, by FS_SEL / AFS_SEL. A reading is code × range /
// 32768: for the accelerometer that is the datasheet's sensitivity
// (16384 LSB/g at ±2 g, ...); for the gyroscope the datasheet rounds it
// (131 LSB/(°/s) at ±250 °/s for 131.072, ..., 16.4 for 16.384, a
// difference of at most 0.1 %, well within its ±3 % tolerance), and the
// rounded values would put the largest codes outside the range.
var (
	accelRanges = [...]float64{2, 4, 8, 16}
	gyroRanges  = [...]float64{250, 500, 1000, 2000}
)

// Option configures Open.
type Option func(*config) error

type config struct {
	afs, fs int // AFS_SEL, FS_SEL
	want    Chip
}

// AccelRange sets the accelerometer's full-scale range: ±2, 4, 8 or 16
// g. Default: 2.
func AccelRange(g int) Option {
	return func(c *config) error {
		for i, r := range accelRanges {
			if float64(g) == r {
				c.afs = i
				return nil
			}
		}
		return fmt.Errorf("accelerometer range ±%d g is none of ±2, 4, 8, 16", g)
	}
}

// GyroRange sets the gyroscope's full-scale range: ±250, 500, 1000 or
// 2000 °/s. Default: 250.
func GyroRange(dps int) Option {
	return func(c *config) error {
		for i, r := range gyroRanges {
			if float64(dps) == r {
				c.fs = i
				return nil
			}
		}
		return fmt.Errorf("gyroscope range ±%d °/s is none of ±250, 500, 1000, 2000", dps)
	}
}

// Want makes Open fail unless the chip's WHO_AM_I names model c.
func Want(c Chip) Option {
	return func(cfg *config) error {
		switch c {
		case MPU6050, MPU6500, MPU9250, MPU9255:
			cfg.want = c
			return nil
		}
		return fmt.Errorf("want %v: not a model of the family", c)
	}
}

// Describe returns the description of a chip with the accelerometer range
// ±accelG g and the gyroscope range ±gyroDPS °/s (values AccelRange and
// GyroRange accept).
func Describe(accelG, gyroDPS float64) sensors.Description {
	amin, amax := chip.Bounds(-accelG, accelG)
	gmin, gmax := chip.Bounds(-gyroDPS, gyroDPS)
	d := sensors.Description{}
	for _, l := range []string{"accel_x", "accel_y", "accel_z"} {
		d.Dimensions = append(d.Dimensions, sensors.Dimension{Label: l, Unit: "g", Min: amin, Max: amax})
	}
	for _, l := range []string{"gyro_x", "gyro_y", "gyro_z"} {
		d.Dimensions = append(d.Dimensions, sensors.Dimension{Label: l, Unit: "°/s", Min: gmin, Max: gmax})
	}
	return d.Clone() // the dimensions share no bounds
}

// Dev is an opened chip. It implements sensors.Driver; its methods are
// safe for concurrent use.
type Dev struct {
	dev  i2c.Dev
	chip Chip
	cfg  config
	desc sensors.Description
	run  chip.Runner
}

var _ sensors.Driver = (*Dev)(nil)

// Open opens the chip at addr (AddrLow or AddrHigh) on b: it checks
// WHO_AM_I, wakes the chip (clock from the X gyroscope's PLL), sets the
// digital low-pass filter (DLPF_CFG 3: about 42 Hz; on the MPU-6500
// family it filters the gyroscope only, the accelerometer keeps its reset
// filter, ACCEL_CONFIG2) and the full-scale ranges. Errors name the bus
// and the address.
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, chip.Errorf("mpu", b, addr, "%w", err)
		}
	}
	if addr != AddrLow && addr != AddrHigh {
		return nil, chip.Errorf("mpu", b, addr, "not an address of the chip (0x68 or 0x69)")
	}
	d := &Dev{dev: i2c.Dev{Bus: b, Addr: addr}, cfg: cfg}
	var id [1]byte
	if err := d.dev.Tx([]byte{regWhoAmI}, id[:]); err != nil {
		return nil, d.errorf("read WHO_AM_I: %w", err)
	}
	c := Chip(id[0])
	switch {
	case c != MPU6050 && c != MPU6500 && c != MPU9250 && c != MPU9255:
		return nil, d.errorf("WHO_AM_I %#02x is none of MPU-6050 (0x68), MPU-6500 (0x70), MPU-9250 (0x71), MPU-9255 (0x73)", id[0])
	case cfg.want != 0 && c != cfg.want:
		return nil, d.errorf("found %v (WHO_AM_I %#02x), want %v (%#02x)", c, id[0], cfg.want, uint8(cfg.want))
	}
	d.chip = c
	for _, w := range [][]byte{
		{regPwrMgmt1, 0x01}, // out of sleep; clock: PLL with the X gyroscope
		{regConfig, 0x03},   // DLPF_CFG 3: MPU-6050 44 Hz accelerometer, 42 Hz gyroscope; MPU-6500 family 41 Hz gyroscope
		{regGyroConfig, byte(cfg.fs) << 3},
		{regAccelConfig, byte(cfg.afs) << 3},
	} {
		if err := d.dev.Tx(w, nil); err != nil {
			return nil, d.errorf("write register %#02x: %w", w[0], err)
		}
	}
	d.desc = Describe(accelRanges[cfg.afs], gyroRanges[cfg.fs])
	return d, nil
}

func (d *Dev) errorf(format string, args ...any) error {
	name := "mpu"
	switch d.chip {
	case MPU6050:
		name = "mpu6050"
	case MPU6500:
		name = "mpu6500"
	case MPU9250:
		name = "mpu9250"
	case MPU9255:
		name = "mpu9255"
	}
	return chip.Errorf(name, d.dev.Bus, d.dev.Addr, format, args...)
}

// Chip returns the model WHO_AM_I named.
func (d *Dev) Chip() Chip { return d.chip }

// String returns the chip's model, bus and address.
func (d *Dev) String() string {
	return fmt.Sprintf("%v at %s address %#x", d.chip, d.dev.Bus, d.dev.Addr)
}

// Describe implements sensors.Driver: see the function Describe.
func (d *Dev) Describe() sensors.Description { return d.desc.Clone() }

// Read implements sensors.Driver: the latest sample of the three
// accelerations (g) and three rotation rates (°/s), read in one burst.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 6 {
		return d.errorf("read into %d numbers, want 6", len(dst))
	}
	var buf [14]byte // accel x, y, z; temperature; gyro x, y, z
	if err := d.run.Do(ctx, func() error { return d.dev.Tx([]byte{regAccelXOutH}, buf[:]) }); err != nil {
		return d.errorf("read: %w", err)
	}
	word := func(i int) float64 { return float64(int16(binary.BigEndian.Uint16(buf[2*i:]))) }
	for i := range 3 {
		dst[i] = word(i) * accelRanges[d.cfg.afs] / 32768
		dst[3+i] = word(4+i) * gyroRanges[d.cfg.fs] / 32768
	}
	return nil
}

// Close puts the chip to sleep (PWR_MGMT_1 SLEEP). The bus belongs to the
// caller.
func (d *Dev) Close() error {
	if err := d.dev.Tx([]byte{regPwrMgmt1, 0x40}, nil); err != nil {
		return d.errorf("sleep: %w", err)
	}
	return nil
}

// Fake returns a simulated chip at the default ranges (±2 g, ±250 °/s),
// for tests and for running without hardware: a board lying flat and
// rocking gently (z near 1 g, x and y within ±0.2 g, rotations within
// ±20 °/s), with a period of 10 seconds.
func Fake() *fake.Driver {
	return chip.Waves(Describe(2, 250), 10*time.Second,
		chip.Range{Lo: -0.2, Hi: 0.2}, chip.Range{Lo: -0.2, Hi: 0.2}, chip.Range{Lo: 0.95, Hi: 1.05},
		chip.Range{Lo: -20, Hi: 20}, chip.Range{Lo: -20, Hi: 20}, chip.Range{Lo: -5, Hi: 5})
}
