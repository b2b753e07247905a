package pca9685

import (
	"context"
	"fmt"
	"time"
)

// Servo defaults: a hobby servo (SG90, MG996R) turns through about 180°
// for pulses of 0.5..2.5 ms, centred at 1.5 ms. Narrow them with
// ServoPulses for a servo that strains at its ends (the conservative
// standard range is 1..2 ms).
const (
	DefaultMinAngle    = 0.0
	DefaultMaxAngle    = 180.0
	DefaultMinPulse    = 500 * time.Microsecond
	DefaultMaxPulse    = 2500 * time.Microsecond
	DefaultCentrePulse = 1500 * time.Microsecond
)

// ServoOption configures a Servo.
type ServoOption func(*Servo) error

// ServoAngles sets the angles of the servo's two ends, in degrees (default
// 0 and 180); min may be greater than max to turn the servo the other way.
func ServoAngles(min, max float64) ServoOption {
	return func(s *Servo) error {
		if min == max {
			return fmt.Errorf("servo angles %g..%g: an empty range", min, max)
		}
		s.minAngle, s.maxAngle = min, max
		return nil
	}
}

// ServoPulses sets the pulses at the min angle, the centre and the max
// angle (defaults 500 µs, 1500 µs, 2500 µs). The centre, reached at the
// middle of the angles, trims a servo whose middle is off; the angle maps
// linearly onto the pulse on each side of it.
func ServoPulses(min, centre, max time.Duration) ServoOption {
	return func(s *Servo) error {
		if min <= 0 || max <= 0 || centre <= 0 || (centre-min)*(max-centre) <= 0 {
			return fmt.Errorf("servo pulses %s, %s, %s: the centre must lie strictly between the ends", min, centre, max)
		}
		s.minPulse, s.centre, s.maxPulse = min, centre, max
		return nil
	}
}

// Servo is a hobby servo on a channel: the driver of a Number actuator
// whose content is the angle in degrees.
type Servo struct {
	d                          *Dev
	ch                         int
	minAngle, maxAngle         float64
	minPulse, centre, maxPulse time.Duration
}

// Servo returns a servo on channel ch. The chip's frequency must suit
// servos (50 Hz, the default; up to about 300 Hz for digital servos). It
// fails on an invalid channel or option.
func (d *Dev) Servo(ch int, opts ...ServoOption) (*Servo, error) {
	if err := checkChannel(d.name, ch); err != nil {
		return nil, err
	}
	s := &Servo{d: d, ch: ch, minAngle: DefaultMinAngle, maxAngle: DefaultMaxAngle,
		minPulse: DefaultMinPulse, centre: DefaultCentrePulse, maxPulse: DefaultMaxPulse}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("%s: channel %d: %w", d.name, ch, err)
		}
	}
	if per := d.Period(); s.maxPulse > per || s.minPulse > per {
		return nil, fmt.Errorf("%s: channel %d: servo pulses up to %s do not fit the period %s (frequency %s)",
			d.name, ch, max(s.minPulse, s.maxPulse), per, d.Frequency())
	}
	return s, nil
}

// Pulse returns the pulse for angle a, or an error if a lies outside the
// servo's angles.
func (s *Servo) Pulse(a float64) (time.Duration, error) {
	lo, hi := min(s.minAngle, s.maxAngle), max(s.minAngle, s.maxAngle)
	if !(a >= lo && a <= hi) {
		return 0, fmt.Errorf("%s: servo on channel %d: angle %g° out of %g..%g°", s.d.name, s.ch, a, lo, hi)
	}
	mid := (s.minAngle + s.maxAngle) / 2
	f := (a - mid) / (s.maxAngle - mid) // -1 at minAngle, 1 at maxAngle
	if f >= 0 {
		return s.centre + time.Duration(f*float64(s.maxPulse-s.centre)), nil
	}
	return s.centre + time.Duration(f*float64(s.centre-s.minPulse)), nil
}

// SetAngle turns the servo to angle a, in degrees.
func (s *Servo) SetAngle(a float64) error {
	p, err := s.Pulse(a)
	if err != nil {
		return err
	}
	return s.d.SetPulse(s.ch, p)
}

// WriteNumber turns the servo to angle v, in degrees; it implements
// actuators.NumberDriver.
func (s *Servo) WriteNumber(ctx context.Context, v float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.SetAngle(v)
}

// Release stops the pulses: the servo no longer holds its position.
func (s *Servo) Release() error { return s.d.SetCount(s.ch, 0) }

// Angles returns the angles of the servo's two ends.
func (s *Servo) Angles() (min, max float64) { return s.minAngle, s.maxAngle }

// Centre returns the angle at the middle of the servo's angles.
func (s *Servo) Centre() float64 { return (s.minAngle + s.maxAngle) / 2 }

// Channel returns the servo's channel number.
func (s *Servo) Channel() int { return s.ch }
