// Package pca9685 drives NXP's PCA9685, a 16-channel 12-bit PWM chip on
// I2C, wrapping periph's driver (periph.io/x/devices/v3/pca9685): its
// channels as Number actuator drivers (duty cycle 0..100 %), and servos as
// angle actuator drivers with min/max pulses and a centre.
//
// Every channel shares the chip's one PWM frequency (Frequency option,
// 50 Hz by default, what servos need). Open switches every
// channel off (periph's initialisation); Halt does so again, and is the
// chip's safe state.
//
// A Channel or a Servo is the driver of an actuator (package actuators):
// WriteNumber(ctx, v) sets its duty cycle or angle. The chip has no
// identification register, so a wrong chip at the address is not
// detected; a missing one is (Open fails, naming bus and address).
//
// Frequency: the chip runs at 25 MHz / (4096 × (prescale + 1)), with the
// datasheet's prescale = round(25 MHz / (4096 × f)) − 1 (section 7.3.5):
// 50.03 Hz for 50 Hz, 1526 Hz (its highest) for 1600 Hz. periph's
// SetPwmFreq writes round(25 MHz / (4096 × f)), without the −1 (49.6 Hz for
// 50 Hz, 1.22 kHz for 1.6 kHz), so this package asks it for the frequency
// that makes it write the datasheet's prescale. Dev.Frequency returns the
// frequency the chip runs at, and servo pulses are computed from it, so
// they are exact to one step (about 4.9 µs at 50 Hz) with the nominal
// 25 MHz oscillator.
//
// Datasheet: https://www.nxp.com/docs/en/data-sheet/PCA9685.pdf
package pca9685

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/pca9685"

	"github.com/kervi/kervi-go/devices/internal/chip"
)

// DefaultAddr is the chip's address with A5..A0 low. Adafruit's DC and
// stepper motor HAT uses 0x60.
const DefaultAddr uint16 = pca9685.I2CAddr

// Channels is the number of PWM channels.
const Channels = 16

const osc = 25 * physic.MegaHertz // the internal oscillator

// pwm is what Dev needs of periph's driver.
type pwm interface {
	SetPwm(channel int, on, off gpio.Duty) error
	SetFullOn(channel int) error
	SetFullOff(channel int) error
	SetPwmFreq(f physic.Frequency) error
}

// Dev is an opened PCA9685. Its methods are safe for concurrent use.
type Dev struct {
	name string // "pca9685 at I2C1 address 0x40"
	bus  i2c.Bus
	addr uint16

	mu     sync.Mutex
	chip   pwm
	pre    int64         // the prescaler written
	counts [Channels]int // last off count written per channel (0..4096)
}

// Option configures Open.
type Option func(*config) error

type config struct {
	pre int64
}

// Frequency sets the PWM frequency of every channel; default 50 Hz (servos).
// DC motors run quieter at 1 kHz or more (Adafruit's motor HAT uses
// 1600 Hz, which the chip runs at 1526 Hz). The prescaler for f must lie
// within the chip's 3..255: f from 24 Hz to about 1700 Hz (see the package
// doc).
func Frequency(f physic.Frequency) Option {
	return func(c *config) error {
		if f <= 0 {
			return fmt.Errorf("frequency %s is not positive", f)
		}
		p := prescale(f)
		if p < 3 || p > 255 {
			return fmt.Errorf("frequency %s: prescaler %d out of 3..255 (24 Hz..1.7 kHz)", f, p)
		}
		c.pre = p
		return nil
	}
}

// Open initialises the PCA9685 at addr on b (every channel off, the
// frequency set) and returns it. It fails naming the bus and the address
// if no device answers, and takes about 0.2 s (periph waits for the
// oscillator).
func Open(b i2c.Bus, addr uint16, opts ...Option) (*Dev, error) {
	name := fmt.Sprintf("pca9685 at %s address %#x", b, addr)
	cfg := config{pre: prescale(50 * physic.Hertz)}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	pd, err := pca9685.NewI2C(b, addr) // writes prescaler 122 (49.6 Hz)
	if err != nil {
		return nil, chip.Errorf("pca9685", b, addr, "no device answers: %w", err)
	}
	if err := pd.SetPwmFreq(periphFreq(cfg.pre)); err != nil {
		return nil, chip.Errorf("pca9685", b, addr, "setting prescaler %d: %w", cfg.pre, err)
	}
	return &Dev{name: name, bus: b, addr: addr, chip: pd, pre: cfg.pre}, nil
}

// busErrorf returns an error of the chip's I/O as a *bus.Error naming
// the chip, its bus and its address.
func (d *Dev) busErrorf(format string, args ...any) error {
	return chip.Errorf("pca9685", d.bus, d.addr, format, args...)
}

// String returns "pca9685 at <bus> address <addr>".
func (d *Dev) String() string { return d.name }

// prescale returns the datasheet's prescaler for f: round(osc / (4096 f)) − 1.
func prescale(f physic.Frequency) int64 {
	return int64((osc/4096+f/2)/f) - 1
}

// periphFreq returns the frequency for which periph's SetPwmFreq writes
// prescaler p: it writes round(osc / (4096 f)).
func periphFreq(p int64) physic.Frequency {
	return osc / physic.Frequency(4096*p)
}

// Frequency returns the PWM frequency the chip runs at (see the package
// doc).
func (d *Dev) Frequency() physic.Frequency {
	d.mu.Lock()
	defer d.mu.Unlock()
	return osc / physic.Frequency(4096*(d.pre+1))
}

// Period returns the PWM period the chip runs at.
func (d *Dev) Period() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return time.Duration((d.pre + 1) * 4096 * int64(time.Second) / int64(osc/physic.Hertz))
}

// SetFrequency changes the PWM frequency of every channel (within
// the chip's range); the chip restarts its outputs, keeping
// their duty cycles. See Frequency for the range. It takes about 0.1 s.
func (d *Dev) SetFrequency(f physic.Frequency) error {
	var c config
	if err := Frequency(f)(&c); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.chip.SetPwmFreq(periphFreq(c.pre)); err != nil {
		return d.busErrorf("setting frequency %s (prescaler %d): %w", f, c.pre, err)
	}
	d.pre = c.pre
	return nil
}

func checkChannel(name string, ch int) error {
	if ch < 0 || ch >= Channels {
		return fmt.Errorf("%s: no channel %d (0..15)", name, ch)
	}
	return nil
}

// SetCount sets channel ch high for n of the 4096 steps of each period:
// 0 is fully off, 4096 fully on (the chip's dedicated bits).
func (d *Dev) SetCount(ch, n int) error {
	if err := checkChannel(d.name, ch); err != nil {
		return err
	}
	if n < 0 || n > 4096 {
		return fmt.Errorf("%s: channel %d: count %d out of 0..4096", d.name, ch, n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	switch n {
	case 0:
		err = d.chip.SetFullOff(ch)
	case 4096:
		err = d.chip.SetFullOn(ch)
	default:
		err = d.chip.SetPwm(ch, 0, gpio.Duty(n))
	}
	if err != nil {
		return d.busErrorf("channel %d: writing count %d: %w", ch, n, err)
	}
	d.counts[ch] = n
	return nil
}

// Count returns the count last written to channel ch (0 after Open).
func (d *Dev) Count(ch int) int {
	if checkChannel(d.name, ch) != nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.counts[ch]
}

// SetDuty sets channel ch's duty cycle, 0..100 %, rounded to the nearest
// of the 4096 steps (0 and 100 are exact: fully off, fully on).
func (d *Dev) SetDuty(ch int, percent float64) error {
	if !(percent >= 0 && percent <= 100) {
		return fmt.Errorf("%s: channel %d: duty %g %% out of 0..100", d.name, ch, percent)
	}
	return d.SetCount(ch, int(math.Round(percent*4096/100)))
}

// SetPulse makes channel ch high for p at the start of each period, rounded
// to the nearest step; p must not exceed the period.
func (d *Dev) SetPulse(ch int, p time.Duration) error {
	per := d.Period()
	if p < 0 || p > per {
		return fmt.Errorf("%s: channel %d: pulse %s out of 0..%s (the period)", d.name, ch, p, per)
	}
	return d.SetCount(ch, int(math.Round(float64(p)*4096/float64(per))))
}

// Halt switches every channel off, the chip's safe state.
func (d *Dev) Halt() error {
	for ch := range Channels {
		if err := d.SetCount(ch, 0); err != nil {
			return err
		}
	}
	return nil
}

// Channel returns channel ch (0..15) as the driver of a Number actuator
// whose content is the duty cycle in % (0..100). It panics if there is no
// such channel.
func (d *Dev) Channel(ch int) *Channel {
	if err := checkChannel(d.name, ch); err != nil {
		panic(err)
	}
	return &Channel{d: d, ch: ch}
}

// Channel is one PWM channel, driving an LED, a fan, a motor's speed input.
type Channel struct {
	d  *Dev
	ch int
}

// WriteNumber sets the channel's duty cycle, v in % (0..100); it
// implements actuators.NumberDriver.
func (c *Channel) WriteNumber(ctx context.Context, v float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.d.SetDuty(c.ch, v)
}

// WriteBool switches the channel fully on or off; it implements
// actuators.BoolDriver.
func (c *Channel) WriteBool(ctx context.Context, on bool) error {
	if on {
		return c.WriteNumber(ctx, 100)
	}
	return c.WriteNumber(ctx, 0)
}

// Duty returns the duty cycle last written, in %.
func (c *Channel) Duty() float64 { return float64(c.d.Count(c.ch)) * 100 / 4096 }

// Number returns the channel's number.
func (c *Channel) Number() int { return c.ch }
