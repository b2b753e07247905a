package bh1750_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/bh1750"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
)

// TestDatasheetExample checks the datasheet's example of the measurement
// result (High byte 1000_0011, low byte 1001_0000: 33680 / 1.2 ≈ 28067
// lx) in H-resolution mode.
func TestDatasheetExample(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x23, W: []byte{0x01}},
		{Addr: 0x23, W: []byte{0x20}},
		{Addr: 0x23, R: []byte{0x83, 0x90}},
		{Addr: 0x23, W: []byte{0x00}}, // Close
	}}
	d, err := bh1750.Open(bus, bh1750.AddrLow)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if math.Abs(dst[0]-28066.67) > 0.01 {
		t.Errorf("lux = %v, want 28066.67", dst[0])
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// TestModes checks the measurement time register's writes (datasheet:
// MTreg high bits with 01000_MT[7,6,5], low bits with 011_MT[4:0]) and
// the scaling of HighRes2 and LowRes.
func TestModes(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x5c, W: []byte{0x01}},
		{Addr: 0x5c, W: []byte{0x40 | 138>>5}},
		{Addr: 0x5c, W: []byte{0x60 | 138&0x1f}},
		{Addr: 0x5c, W: []byte{0x21}},
		{Addr: 0x5c, R: []byte{0x00, 0xF0}},
	}}
	d, err := bh1750.Open(bus, bh1750.AddrHigh, bh1750.Resolution(bh1750.HighRes2), bh1750.MeasurementTime(138))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if want := 240 / 1.2 * 69 / 138 / 2; dst[0] != want {
		t.Errorf("lux = %v, want %v", dst[0], want)
	}
	if max := *d.Describe().Max; math.Abs(max-65535/1.2/4) > 1e-9 {
		t.Errorf("Max = %v, want %v", max, 65535/1.2/4)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
	if max := *bh1750.Describe(bh1750.LowRes, 31).Max; math.Abs(max-65535/1.2*69/31) > 1e-9 {
		t.Errorf("LowRes, MTreg 31: Max = %v", max)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := bh1750.Open(&i2cfault.Bus{}, bh1750.AddrLow)
	if !errors.Is(err, i2cfault.ErrNACK) || !strings.Contains(err.Error(), "bh1750 on i2c bus \"I2C-fault\" at address 0x23: power on") {
		t.Errorf("Open on an empty bus: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	bus := &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x23, W: []byte{0x01}},
		{Addr: 0x23, W: []byte{0x23}},
	}}, After: 2}
	d, err := bh1750.Open(bus, bh1750.AddrLow, bh1750.Resolution(bh1750.LowRes))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 1))
	if !errors.Is(err, i2cfault.ErrIO) || !strings.Contains(err.Error(), "address 0x23") {
		t.Errorf("Read with a bus failing mid-read: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []bh1750.Option{bh1750.Resolution(0x10), bh1750.MeasurementTime(30), bh1750.MeasurementTime(255)} {
		if _, err := bh1750.Open(&i2cfault.Bus{}, bh1750.AddrLow, o); err == nil || errors.Is(err, i2cfault.ErrNACK) {
			t.Errorf("Open with a bad option: %v", err)
		}
	}
	if _, err := bh1750.Open(&i2cfault.Bus{}, 0x29); err == nil || !strings.Contains(err.Error(), "0x29") {
		t.Errorf("Open at 0x29: %v", err)
	}
}

func TestFake(t *testing.T) {
	f := bh1750.Fake()
	dst := make([]float64, 1)
	if err := f.Read(context.Background(), dst); err != nil || dst[0] < 100 || dst[0] > 800 {
		t.Errorf("fake reading %v, %v", dst[0], err)
	}
	if d := f.Describe(); d.Unit != "lx" || *d.Min != 0 {
		t.Errorf("fake description %+v", d)
	}
}
