// Package motor drives DC motors through an H-bridge whose inputs are
// PCA9685 channels, as on the common motor HATs, as Number actuator
// drivers: the speed is −100..100 (% of full voltage; the sign is the
// direction), so a dashboard slider can drive a motor. Servos (angle) on a
// PCA9685 are pca9685.Servo.
//
// # Wiring assumed
//
// Each motor uses three PCA9685 channels: PWM, the H-bridge's speed (enable)
// input, driven with the duty cycle |speed| %; and IN1, IN2, its direction
// inputs, driven fully on or fully off. This is the layout of Adafruit's
// DC & Stepper Motor HAT / Bonnet (two TB6612FNG, PCA9685 at 0x60) and of
// Waveshare's Motor Driver HAT (one TB6612FNG, PCA9685 at 0x40); an L298N
// board wired to a PCA9685 (ENA, IN1, IN2) behaves the same.
//
//	Adafruit HAT  PWM  IN1  IN2      Waveshare HAT  PWM  IN1  IN2
//	M1             8   10    9       MA              0    1    2
//	M2            13   11   12       MB              5    3    4
//	M3             2    4    3
//	M4             7    5    6
//
// Speed > 0 (forward): IN1 on, IN2 off. Speed < 0 (backward): IN1 off,
// IN2 on. Swap the motor's two leads to swap the directions. When the
// direction changes, PWM is switched off first, then the direction inputs
// are set (the one going off first), then PWM set to the new duty, so the
// bridge never drives while its inputs change.
//
// # Stopping: the safe state
//
// Speed 0 stops the motor, which is its safe state (use it as the
// actuator's Safe state). How it stops is the motor's StopMode: Coast
// (default) switches PWM, IN1 and IN2 off: the bridge's outputs are open
// and the motor spins down freely (Adafruit's RELEASE; TB6612 "stop",
// L298 "free running"). Brake sets IN1 and IN2 on and PWM fully on: the
// bridge shorts the motor's leads and it stops quickly (TB6612 "short
// brake", L298 "fast motor stop"); the bridge stays powered. Dev.Halt on
// the PCA9685 also coasts every motor.
//
// PWM frequency: the PCA9685's frequency is shared by all its channels.
// Adafruit's library runs its motor HAT at 1600 Hz: open the chip with
// pca9685.Frequency(1600 * physic.Hertz) (the chip then runs at 1526 Hz,
// its highest, as with Adafruit's library) unless servos share it (they need 50 Hz; DC
// motors run at 50 Hz too, only louder).
package motor

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/kervi/kervi-go/devices/pca9685"
)

// Wiring names the PCA9685 channels of one motor's H-bridge inputs.
type Wiring struct {
	PWM, IN1, IN2 int
}

// The layouts of the common motor HATs (see the package doc).
var (
	AdafruitM1 = Wiring{PWM: 8, IN1: 10, IN2: 9}
	AdafruitM2 = Wiring{PWM: 13, IN1: 11, IN2: 12}
	AdafruitM3 = Wiring{PWM: 2, IN1: 4, IN2: 3}
	AdafruitM4 = Wiring{PWM: 7, IN1: 5, IN2: 6}

	WaveshareMA = Wiring{PWM: 0, IN1: 1, IN2: 2}
	WaveshareMB = Wiring{PWM: 5, IN1: 3, IN2: 4}
)

// The PCA9685 addresses of the HATs as shipped.
const (
	AdafruitHATAddr  uint16 = 0x60
	WaveshareHATAddr uint16 = 0x40
)

// StopMode is how a motor stops at speed 0.
type StopMode int

const (
	// Coast opens the bridge: the motor spins down freely. The default.
	Coast StopMode = iota
	// Brake shorts the motor's leads through the bridge: it stops quickly.
	Brake
)

// String returns "coast" or "brake".
func (s StopMode) String() string {
	if s == Brake {
		return "brake"
	}
	return "coast"
}

// Option configures a DC motor.
type Option func(*DC) error

// Stop sets how the motor stops at speed 0 (default Coast).
func Stop(m StopMode) Option {
	return func(d *DC) error {
		if m != Coast && m != Brake {
			return fmt.Errorf("unknown stop mode %d", m)
		}
		d.stop = m
		return nil
	}
}

// Name sets the motor's name in errors (default "motor on PWM channel N").
func Name(name string) Option {
	return func(d *DC) error { d.name = name; return nil }
}

// DC is a DC motor on an H-bridge driven by PCA9685 channels. Its methods
// are safe for concurrent use.
type DC struct {
	pca  *pca9685.Dev
	w    Wiring
	stop StopMode
	name string

	mu    sync.Mutex
	speed float64
	dir   int // 1 forward, -1 backward, 0 stopped or unknown
}

// NewDC returns the motor wired as w to d. It writes nothing: the PCA9685
// starts with every channel off, the motor coasting. It fails if a channel
// is out of 0..15 or used twice, or an option is invalid.
func NewDC(d *pca9685.Dev, w Wiring, opts ...Option) (*DC, error) {
	m := &DC{pca: d, w: w, name: fmt.Sprintf("motor on PWM channel %d", w.PWM)}
	for _, o := range opts {
		if err := o(m); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", d, m.name, err)
		}
	}
	chs := []int{w.PWM, w.IN1, w.IN2}
	for i, c := range chs {
		if c < 0 || c >= pca9685.Channels {
			return nil, fmt.Errorf("%s: %s: channel %d out of 0..15", d, m.name, c)
		}
		for _, o := range chs[:i] {
			if o == c {
				return nil, fmt.Errorf("%s: %s: channel %d used twice in %+v", d, m.name, c, w)
			}
		}
	}
	return m, nil
}

// String returns the motor's name and its PCA9685.
func (m *DC) String() string { return fmt.Sprintf("%s on %s", m.name, m.pca) }

// Wiring returns the motor's channels.
func (m *DC) Wiring() Wiring { return m.w }

// StopMode returns how the motor stops.
func (m *DC) StopMode() StopMode { return m.stop }

// Speed returns the speed last written successfully.
func (m *DC) Speed() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.speed
}

// SetSpeed sets the motor's speed, −100..100 % (see the package doc); 0
// stops it as its StopMode says. After a bus error the motor's state is
// unknown: the next write sets every input again.
func (m *DC) SetSpeed(v float64) error {
	if !(v >= -100 && v <= 100) {
		return fmt.Errorf("%s: speed %g out of -100..100", m, v)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := 0
	switch {
	case v > 0:
		dir = 1
	case v < 0:
		dir = -1
	}
	err := m.set(dir, math.Abs(v))
	if err != nil {
		m.dir = 0 // unknown: set every input next time
		return fmt.Errorf("%s: speed %g: %w", m.name, v, err)
	}
	m.speed, m.dir = v, dir
	return nil
}

// set writes the channels, m.mu held.
func (m *DC) set(dir int, duty float64) error {
	p := m.pca
	if dir == 0 {
		if m.stop == Brake {
			if err := p.SetDuty(m.w.IN1, 100); err != nil {
				return err
			}
			if err := p.SetDuty(m.w.IN2, 100); err != nil {
				return err
			}
			return p.SetDuty(m.w.PWM, 100)
		}
		if err := p.SetDuty(m.w.PWM, 0); err != nil {
			return err
		}
		if err := p.SetDuty(m.w.IN1, 0); err != nil {
			return err
		}
		return p.SetDuty(m.w.IN2, 0)
	}
	if dir != m.dir { // m.dir is 0 after a stop or a failed write, so the inputs are set again
		on, off := m.w.IN1, m.w.IN2
		if dir < 0 {
			on, off = off, on
		}
		if err := p.SetDuty(m.w.PWM, 0); err != nil {
			return err
		}
		if err := p.SetDuty(off, 0); err != nil {
			return err
		}
		if err := p.SetDuty(on, 100); err != nil {
			return err
		}
	}
	return p.SetDuty(m.w.PWM, duty)
}

// WriteNumber sets the motor's speed, −100..100; it implements
// actuators.NumberDriver. Use 0 as the actuator's safe state.
func (m *DC) WriteNumber(ctx context.Context, v float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.SetSpeed(v)
}

// Halt stops the motor (speed 0, as its StopMode says).
func (m *DC) Halt() error { return m.SetSpeed(0) }
