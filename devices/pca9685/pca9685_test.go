package pca9685

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
)

// openOps is the initialisation at address a, 50 Hz: periph's (every
// channel off, MODE2 totem pole, MODE1 wake with auto-increment, then its
// prescaler 122 = round(25 MHz / (4096 × 50 Hz)) written while asleep, and
// a restart), then the datasheet's prescaler for 50 Hz, 121 =
// round(25 MHz / (4096 × 50 Hz)) − 1 (section 7.3.5), the same way.
func openOps(a uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: a, W: []byte{0xFA, 0, 0, 0, 0}},
		{Addr: a, W: []byte{0x01, 0x04}},
		{Addr: a, W: []byte{0x00, 0x01}},
		{Addr: a, W: []byte{0x00}, R: []byte{0x01}},
		{Addr: a, W: []byte{0x00, 0x21}},
		{Addr: a, W: []byte{0x00}, R: []byte{0x21}},
		{Addr: a, W: []byte{0x00, 0x31}},
		{Addr: a, W: []byte{0xFE, 122}},
		{Addr: a, W: []byte{0x00, 0x21}},
		{Addr: a, W: []byte{0x00, 0xA1}},
		{Addr: a, W: []byte{0x00}, R: []byte{0x21}},
		{Addr: a, W: []byte{0x00, 0x31}},
		{Addr: a, W: []byte{0xFE, 121}},
		{Addr: a, W: []byte{0x00, 0x21}},
		{Addr: a, W: []byte{0x00, 0xA1}},
	}
}

func TestScripted(t *testing.T) {
	ops := append(openOps(0x41),
		i2ctest.IO{Addr: 0x41, W: []byte{0x06, 0, 0, 0x00, 0x08}}, // ch 0: 50 % = 2048 steps
		i2ctest.IO{Addr: 0x41, W: []byte{0x0B, 0x10, 0, 0}},       // ch 1: full on
		i2ctest.IO{Addr: 0x41, W: []byte{0x0D, 0x10}},             // ch 1: full off
		i2ctest.IO{Addr: 0x41, W: []byte{0x42, 0, 0, 0x33, 0x01}}, // ch 15: 1.5 ms = 307 steps of 19.99 ms / 4096
	)
	bus := &i2ctest.Playback{Ops: ops}
	d, err := Open(bus, 0x41)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must(t, d.Channel(0).WriteNumber(ctx, 50))
	must(t, d.Channel(1).WriteBool(ctx, true))
	must(t, d.Channel(1).WriteNumber(ctx, 0))
	s, err := d.Servo(15)
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.WriteNumber(ctx, 90))
	if got := d.Channel(0).Duty(); got != 50 {
		t.Errorf("duty = %g", got)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if f := d.Frequency(); f < 50020*physic.MilliHertz || f > 50030*physic.MilliHertz {
		t.Errorf("frequency = %s, want 50.02 Hz", f)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := Open(&i2cfault.Bus{}, 0x40)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `pca9685 on i2c bus "I2C-fault" at address 0x40: no device answers: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "I2C-fault")
}

// checkBusError checks that err is a *bus.Error naming the chip, busName
// and DefaultAddr.
func checkBusError(t *testing.T, err error, busName string) {
	t.Helper()
	var be *bus.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *bus.Error", err, err)
	}
	if be.Chip != "pca9685" || be.Kind != bus.I2C || be.Bus != busName || !be.HasAddr || be.Addr != uint64(DefaultAddr) {
		t.Errorf("bus.Error = %+v, want chip pca9685 on i2c bus %q at address %#x", *be, busName, DefaultAddr)
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	c := NewChip(DefaultAddr)
	fb := &i2cfault.Bus{Inner: c, After: len(openOps(0)) + 1}
	d, err := Open(fb, DefaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.SetDuty(3, 25))
	err = d.SetDuty(3, 75)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `pca9685 on i2c bus "fake-I2C" at address 0x40: channel 3: writing count 3072: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "fake-I2C")
	if d.Count(3) != 1024 || c.Count(3) != 1024 {
		t.Errorf("count after a failed write = %d (chip %d), want 1024", d.Count(3), c.Count(3))
	}
}

func TestArguments(t *testing.T) {
	d := Fake()
	for _, v := range []float64{-1, 100.5, nan()} {
		if err := d.SetDuty(2, v); err == nil {
			t.Errorf("duty %g accepted", v)
		}
	}
	if err := d.SetDuty(16, 5); err == nil || !strings.Contains(err.Error(), "channel 16") {
		t.Errorf("channel 16: %v", err)
	}
	if err := d.SetPulse(0, 30*time.Millisecond); err == nil {
		t.Error("a pulse longer than the period accepted")
	}
	if _, err := d.Servo(0, ServoPulses(2000, 1000, 2500)); err == nil {
		t.Error("centre outside the pulses accepted")
	}
	if _, err := d.Servo(0, ServoAngles(5, 5)); err == nil {
		t.Error("empty angles accepted")
	}
	if err := d.SetFrequency(10 * physic.Hertz); err == nil {
		t.Error("10 Hz accepted")
	}
	if _, err := Open(NewChip(DefaultAddr), DefaultAddr, Frequency(3*physic.KiloHertz)); err == nil || !strings.Contains(err.Error(), "0x40") {
		t.Errorf("3 kHz: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Channel(0).WriteNumber(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Channel(-1) did not panic")
		}
	}()
	d.Channel(-1)
}

func TestServo(t *testing.T) {
	d := Fake()
	s, err := d.Servo(4)
	if err != nil {
		t.Fatal(err)
	}
	step := d.Period() / 4096
	for _, c := range []struct {
		angle float64
		pulse time.Duration
	}{{0, 500 * time.Microsecond}, {45, 1000 * time.Microsecond}, {90, 1500 * time.Microsecond}, {180, 2500 * time.Microsecond}} {
		p, err := s.Pulse(c.angle)
		if err != nil || p != c.pulse {
			t.Errorf("Pulse(%g) = %s, %v; want %s", c.angle, p, err, c.pulse)
		}
		must(t, s.SetAngle(c.angle))
		if got := d.Chip.Pulse(4); (got - c.pulse).Abs() > step/2+1 {
			t.Errorf("chip pulse at %g° = %s, want %s ± %s", c.angle, got, c.pulse, step/2)
		}
	}
	if _, err := s.Pulse(181); err == nil || !strings.Contains(err.Error(), "181") {
		t.Errorf("181°: %v", err)
	}
	// A trimmed, reversed servo of ±90°: its centre at 1.4 ms.
	r, err := d.Servo(5, ServoAngles(90, -90), ServoPulses(600*time.Microsecond, 1400*time.Microsecond, 2400*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[float64]time.Duration{90: 600 * time.Microsecond, 0: 1400 * time.Microsecond, -45: 1900 * time.Microsecond, -90: 2400 * time.Microsecond} {
		if p, err := r.Pulse(a); err != nil || p != want {
			t.Errorf("reversed Pulse(%g) = %s, %v; want %s", a, p, err, want)
		}
	}
	must(t, s.Release())
	if d.Chip.Count(4) != 0 {
		t.Error("Release left pulses")
	}
}

func TestFake(t *testing.T) {
	d := Fake(Frequency(1000 * physic.Hertz))
	if d.Chip.Sleeping() {
		t.Error("oscillator asleep after Open")
	}
	// round(25 MHz / (4096 × 1 kHz)) − 1 = 5, so 25 MHz / (4096 × 6) = 1017 Hz.
	if p := d.Chip.Prescale(); p != 5 {
		t.Errorf("prescale = %d, want 5", p)
	}
	if f := d.Frequency(); f/physic.Hertz != 1017 {
		t.Errorf("frequency = %s, want 1017.3 Hz", f)
	}
	ctx := context.Background()
	for ch := range Channels {
		must(t, d.Channel(ch).WriteNumber(ctx, float64(ch)*100/15))
	}
	if d.Chip.Duty(0) != 0 || d.Chip.Duty(15) != 100 || d.Chip.Count(3) != 819 {
		t.Errorf("duties: ch0 %g ch15 %g ch3 count %d", d.Chip.Duty(0), d.Chip.Duty(15), d.Chip.Count(3))
	}
	if l := d.Chip.Log(); len(l) != 15 || l[0] != (ChannelWrite{1, 273}) || l[14] != (ChannelWrite{15, 4096}) {
		t.Errorf("log %v", l)
	}
	must(t, d.Halt())
	for ch := range Channels {
		if d.Chip.Count(ch) != 0 {
			t.Errorf("channel %d on after Halt", ch)
		}
	}
	must(t, d.SetFrequency(50*physic.Hertz))
	if p := d.Chip.Prescale(); p != 121 {
		t.Errorf("prescale = %d, want 121", p)
	}
	// The datasheet's example (7.3.5): 200 Hz is prescale 30 (0x1E).
	must(t, d.SetFrequency(200*physic.Hertz))
	if p := d.Chip.Prescale(); p != 0x1E {
		t.Errorf("prescale for 200 Hz = %d, want 30", p)
	}
	// Adafruit's motor HAT frequency, 1600 Hz, is the chip's highest.
	must(t, d.SetFrequency(1600*physic.Hertz))
	if p, f := d.Chip.Prescale(), d.Frequency(); p != 3 || f/physic.Hertz != 1525 {
		t.Errorf("1600 Hz: prescale %d, frequency %s; want 3, 1525.9 Hz", p, f)
	}
}

func nan() float64 { var z float64; return z / z }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
