package tsl2561_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"github.com/kervi/kervi-go/devices/tsl2561"
)

// TestLux checks each piece of the datasheet's formula for the T, FN and
// CL packages, worked by hand, at gain 16 and 402 ms.
func TestLux(t *testing.T) {
	for _, c := range []struct{ ch0, ch1, want float64 }{
		{1000, 0, 30.4}, // 0.0304·1000
		{1000, 250, 30.4 - 62*math.Pow(0.25, 1.4)},       // ratio 0.25: 0.0304·ch0 − 0.062·ch0·0.25^1.4
		{1000, 550, 22.4 - 17.05},                        // ratio 0.55: 0.0224·ch0 − 0.031·ch1
		{1000, 700, 12.8 - 10.71},                        // ratio 0.70: 0.0128·ch0 − 0.0153·ch1
		{1000, 1000, 1.46 - 1.12},                        // ratio 1.00: 0.00146·ch0 − 0.00112·ch1
		{1000, 1500, 0},                                  // ratio above 1.30
		{0, 0, 0},                                        // darkness
		{2000, 1000, 2 * (30.4 - 62*math.Pow(0.5, 1.4))}, // ratio 0.50 belongs to the first piece
	} {
		if got := tsl2561.Lux(tsl2561.PackageT, c.ch0, c.ch1); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Lux(T, %v, %v) = %v, want %v", c.ch0, c.ch1, got, c.want)
		}
	}
	if got, want := tsl2561.Lux(tsl2561.PackageCS, 1000, 600), 22.9-17.46; math.Abs(got-want) > 1e-9 {
		t.Errorf("Lux(CS, 1000, 600) = %v, want %v", got, want)
	}
}

// ops is the traffic of Open (id, timing 13.7 ms at gain 1) and of one
// Read of the counts c0 and c1.
func ops(id byte, c0, c1 uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: 0x39, W: []byte{0x8A}, R: []byte{id}},
		{Addr: 0x39, W: []byte{0x81, 0x00}},
		{Addr: 0x39, W: []byte{0x80, 0x03}},
		{Addr: 0x39, W: []byte{0xAC}, R: []byte{byte(c0), byte(c0 >> 8)}},
		{Addr: 0x39, W: []byte{0xAE}, R: []byte{byte(c1), byte(c1 >> 8)}},
		{Addr: 0x39, W: []byte{0x80, 0x00}},
	}
}

func TestRead(t *testing.T) {
	bus := &i2ctest.Playback{Ops: ops(0x50, 1000, 250)}
	d, err := tsl2561.Open(bus, tsl2561.AddrFloat, tsl2561.WithIntegration(tsl2561.Integrate13ms))
	if err != nil {
		t.Fatal(err)
	}
	if d.Package() != tsl2561.PackageT {
		t.Errorf("id 0x50 gives package %v, want T", d.Package())
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	// Gain 1 and 13.7 ms scale the counts by 16 · 322/11 to gain 16 and
	// 402 ms; the ratio stays 0.25.
	s := 16 * 322.0 / 11
	want := 0.0304*1000*s - 0.062*1000*s*math.Pow(0.25, 1.4)
	if math.Abs(dst[0]-want) > 1e-6 {
		t.Errorf("lux = %v, want %v", dst[0], want)
	}
	if max := *d.Describe().Max; math.Abs(max-0.0304*5047*s) > 1e-6 {
		t.Errorf("Max = %v, want %v", max, 0.0304*5047*s)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestSaturated(t *testing.T) {
	bus := &i2ctest.Playback{Ops: ops(0x1A, 5047, 100)}
	d, err := tsl2561.Open(bus, tsl2561.AddrFloat, tsl2561.WithIntegration(tsl2561.Integrate13ms))
	if err != nil {
		t.Fatal(err)
	}
	if d.Package() != tsl2561.PackageCS {
		t.Errorf("id 0x1a gives package %v, want CS", d.Package())
	}
	if err := d.Read(context.Background(), make([]float64, 1)); err == nil || !strings.Contains(err.Error(), "saturated") {
		t.Errorf("Read of a saturated chip: %v", err)
	}
}

func TestWrongID(t *testing.T) {
	for _, id := range []byte{0x30, 0xFF} {
		bus := &i2ctest.Playback{Ops: ops(id, 0, 0)[:1]}
		_, err := tsl2561.Open(bus, tsl2561.AddrFloat)
		if err == nil || !strings.Contains(err.Error(), "is not a TSL2560 or TSL2561") || !strings.Contains(err.Error(), "tsl2561 on i2c bus \"playback\" at address 0x39") {
			t.Errorf("Open of a chip with id %#x: %v", id, err)
		}
	}
}

func TestNoDevice(t *testing.T) {
	_, err := tsl2561.Open(&i2cfault.Bus{}, tsl2561.AddrLow)
	if !errors.Is(err, i2cfault.ErrNACK) || !strings.Contains(err.Error(), "tsl2561 on i2c bus \"I2C-fault\" at address 0x29: read id") {
		t.Errorf("Open on an empty bus: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	o := ops(0x50, 1000, 250)
	bus := &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: o[:4]}, After: 4} // channel 1 fails
	d, err := tsl2561.Open(bus, tsl2561.AddrFloat, tsl2561.WithIntegration(tsl2561.Integrate13ms))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 1))
	if !errors.Is(err, i2cfault.ErrIO) || !strings.Contains(err.Error(), "read channel 1") {
		t.Errorf("Read with a bus failing mid-read: %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []tsl2561.Option{tsl2561.WithGain(4), tsl2561.WithIntegration(3)} {
		if _, err := tsl2561.Open(&i2cfault.Bus{}, tsl2561.AddrLow, o); err == nil || errors.Is(err, i2cfault.ErrNACK) {
			t.Errorf("Open with a bad option: %v", err)
		}
	}
	if _, err := tsl2561.Open(&i2cfault.Bus{}, 0x23); err == nil || !strings.Contains(err.Error(), "0x23") {
		t.Errorf("Open at 0x23: %v", err)
	}
	// Gain 16 at 402 ms: timing register 0x12; counts unscaled.
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x49, W: []byte{0x8A}, R: []byte{0x50}},
		{Addr: 0x49, W: []byte{0x81, 0x12}},
	}}
	d, err := tsl2561.Open(bus, tsl2561.AddrHigh, tsl2561.WithGain(tsl2561.Gain16), tsl2561.WithIntegration(tsl2561.Integrate402ms))
	if err != nil {
		t.Fatal(err)
	}
	if max := *d.Describe().Max; math.Abs(max-0.0304*65535) > 1e-9 {
		t.Errorf("Max at gain 16, 402 ms = %v", max)
	}
}

func TestFake(t *testing.T) {
	dst := make([]float64, 1)
	if err := tsl2561.Fake().Read(context.Background(), dst); err != nil || dst[0] < 50 || dst[0] > 600 {
		t.Errorf("fake reading %v, %v", dst[0], err)
	}
}
