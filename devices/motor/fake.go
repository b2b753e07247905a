package motor

import (
	"context"
	"sync"

	"github.com/kervi/kervi-go/devices/pca9685"
	"periph.io/x/conn/v3/physic"
)

// Bridge is the state of an H-bridge as a motor sees it, decoded from a
// simulated PCA9685's channels.
type Bridge struct {
	// Speed is the signed duty cycle driving the motor, −100..100 %; 0
	// when it coasts or brakes.
	Speed float64
	// Braking reports IN1 and IN2 both on: the motor's leads are shorted.
	Braking bool
}

// ReadBridge decodes the bridge wired as w from the simulated chip c.
func ReadBridge(c *pca9685.Chip, w Wiring) Bridge {
	in1, in2 := c.Count(w.IN1) == 4096, c.Count(w.IN2) == 4096
	switch {
	case in1 && in2:
		return Bridge{Braking: true}
	case in1:
		return Bridge{Speed: c.Duty(w.PWM)}
	case in2:
		return Bridge{Speed: -c.Duty(w.PWM)}
	}
	return Bridge{}
}

// FakeDC is a DC motor on a simulated PCA9685 (see Fake), which records
// the speeds written.
type FakeDC struct {
	*DC
	// PCA is the simulated PCA9685 the motor is wired to.
	PCA *pca9685.FakeDev

	mu     sync.Mutex
	speeds []float64
}

// Fake returns a motor wired as w to a simulated PCA9685 running at
// 1600 Hz, so that tests and examples run without hardware; it takes
// NewDC's options and about 0.3 s (the PCA9685's start). It panics if w or
// an option is invalid.
func Fake(w Wiring, opts ...Option) *FakeDC {
	p := pca9685.Fake(pca9685.Frequency(1600 * physic.Hertz))
	m, err := NewDC(p.Dev, w, opts...)
	if err != nil {
		panic(err)
	}
	return &FakeDC{DC: m, PCA: p}
}

// SetSpeed sets the speed as DC.SetSpeed does, recording it if it was
// written.
func (f *FakeDC) SetSpeed(v float64) error {
	err := f.DC.SetSpeed(v)
	if err == nil {
		f.mu.Lock()
		f.speeds = append(f.speeds, v)
		f.mu.Unlock()
	}
	return err
}

// WriteNumber sets the speed as DC.WriteNumber does, recording it if it
// was written.
func (f *FakeDC) WriteNumber(ctx context.Context, v float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.SetSpeed(v)
}

// Halt stops the motor, recording speed 0.
func (f *FakeDC) Halt() error { return f.SetSpeed(0) }

// Speeds returns the speeds written, in order.
func (f *FakeDC) Speeds() []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]float64(nil), f.speeds...)
}

// Bridge returns the motor's H-bridge state decoded from the simulated
// chip.
func (f *FakeDC) Bridge() Bridge { return ReadBridge(f.PCA.Chip, f.w) }
