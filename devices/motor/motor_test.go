package motor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"github.com/kervi/kervi-go/devices/pca9685"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// ledOff, ledOn and ledPWM are the PCA9685 writes of channel ch fully off
// (LEDn_OFF_H bit 4), fully on (LEDn_ON_H bit 4, LEDn_OFF cleared) and at
// count n of 4096 (LEDn_ON = 0, LEDn_OFF = n).
func ledOff(ch int) string { return fmt.Sprintf("%x", []byte{byte(6 + 4*ch + 3), 0x10}) }
func ledOn(ch int) string  { return fmt.Sprintf("%x", []byte{byte(6 + 4*ch + 1), 0x10, 0, 0}) }
func ledPWM(ch, n int) string {
	return fmt.Sprintf("%x", []byte{byte(6 + 4*ch), 0, 0, byte(n), byte(n >> 8)})
}

func TestWriteSequence(t *testing.T) {
	chip := pca9685.NewChip(AdafruitHATAddr)
	rec := &i2ctest.Record{Bus: chip}
	p, err := pca9685.Open(rec, AdafruitHATAddr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewDC(p, AdafruitM1)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		speed float64
		want  []string
	}{
		{50, []string{ledOff(8), ledOff(9), ledOn(10), ledPWM(8, 2048)}},
		{75, []string{ledPWM(8, 3072)}},
		{-30, []string{ledOff(8), ledOff(10), ledOn(9), ledPWM(8, 1229)}},
		{-100, []string{ledOn(8)}},
		{0, []string{ledOff(8), ledOff(10), ledOff(9)}},
		{0, []string{ledOff(8), ledOff(10), ledOff(9)}},
		{10, []string{ledOff(8), ledOff(9), ledOn(10), ledPWM(8, 410)}},
	}
	for _, s := range steps {
		n := len(rec.Ops)
		if err := m.WriteNumber(context.Background(), s.speed); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, op := range rec.Ops[n:] {
			if op.Addr != AdafruitHATAddr {
				t.Errorf("write to %#x", op.Addr)
			}
			got = append(got, fmt.Sprintf("%x", op.W))
		}
		if strings.Join(got, " ") != strings.Join(s.want, " ") {
			t.Errorf("speed %g: writes %v, want %v", s.speed, got, s.want)
		}
		if b := ReadBridge(chip, AdafruitM1); b.Speed != float64(int(s.speed*40.96+0.5))/40.96 && b.Speed-s.speed > 0.02 {
			t.Errorf("speed %g: bridge %+v", s.speed, b)
		}
	}
}

func TestBrake(t *testing.T) {
	m := Fake(WaveshareMB, Stop(Brake))
	if err := m.SetSpeed(-40); err != nil {
		t.Fatal(err)
	}
	if b := m.Bridge(); b.Speed != -40.0048828125 && (b.Speed > -39.9 || b.Speed < -40.1) {
		t.Errorf("bridge %+v", b)
	}
	if err := m.Halt(); err != nil {
		t.Fatal(err)
	}
	if b := m.Bridge(); !b.Braking || b.Speed != 0 {
		t.Errorf("after Halt: %+v, want braking", b)
	}
	if err := m.SetSpeed(20); err != nil {
		t.Fatal(err)
	}
	if b := m.Bridge(); b.Braking || b.Speed < 19.9 || b.Speed > 20.1 {
		t.Errorf("after braking, speed 20: %+v", b)
	}
	if got := fmt.Sprint(m.Speeds()); got != "[-40 0 20]" {
		t.Errorf("speeds %s", got)
	}
}

func TestFakeCoasts(t *testing.T) {
	m := Fake(AdafruitM3)
	ctx := context.Background()
	for _, v := range []float64{100, -100, 0} {
		if err := m.WriteNumber(ctx, v); err != nil {
			t.Fatal(err)
		}
		if b := m.Bridge(); b.Speed != v || b.Braking {
			t.Errorf("speed %g: bridge %+v", v, b)
		}
	}
	for _, ch := range []int{2, 3, 4} {
		if m.PCA.Chip.Count(ch) != 0 {
			t.Errorf("channel %d on while coasting", ch)
		}
	}
}

func TestErrors(t *testing.T) {
	m := Fake(AdafruitM2)
	for _, v := range []float64{-101, 100.5, nan()} {
		if err := m.SetSpeed(v); err == nil || !strings.Contains(err.Error(), "-100..100") {
			t.Errorf("speed %g: %v", v, err)
		}
	}
	if len(m.Speeds()) != 0 {
		t.Errorf("refused speeds recorded: %v", m.Speeds())
	}
	if _, err := NewDC(m.PCA.Dev, Wiring{PWM: 1, IN1: 2, IN2: 1}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("channel used twice: %v", err)
	}
	if _, err := NewDC(m.PCA.Dev, Wiring{PWM: 1, IN1: 2, IN2: 16}); err == nil || !strings.Contains(err.Error(), "16") {
		t.Errorf("channel 16: %v", err)
	}
	if _, err := NewDC(m.PCA.Dev, AdafruitM1, Stop(7)); err == nil {
		t.Error("stop mode 7 accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.WriteNumber(ctx, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	chip := pca9685.NewChip(pca9685.DefaultAddr)
	bus := &i2cfault.Bus{Inner: chip, After: 15 + 2} // Open, then PWM off and IN2 off
	p, err := pca9685.Open(bus, pca9685.DefaultAddr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewDC(p, WaveshareMA, Name("left wheel"))
	if err != nil {
		t.Fatal(err)
	}
	err = m.SetSpeed(60)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	for _, want := range []string{"left wheel", "speed 60", "pca9685", "0x40", "channel 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if m.Speed() != 0 {
		t.Errorf("speed after a failed write = %g", m.Speed())
	}
	if b := ReadBridge(chip, WaveshareMA); b.Speed != 0 || b.Braking {
		t.Errorf("bridge after a failed write: %+v, want coasting", b)
	}
}

func nan() float64 {
	var z float64
	return z / z
}
