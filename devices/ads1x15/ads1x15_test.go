package ads1x15_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/ads1x15"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
)

// probe is Open's read of the configuration register (its reset value).
var probe = i2ctest.IO{Addr: 0x48, W: []byte{0x01}, R: []byte{0x85, 0x83}}

// conv is the traffic of one single-shot conversion with configuration
// cfg returning code.
func conv(cfg, code uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: 0x48, W: []byte{0x01, byte(cfg >> 8), byte(cfg)}},
		{Addr: 0x48, W: []byte{0x00}, R: []byte{byte(code >> 8), byte(code)}},
	}
}

// TestADS1115Codes checks the datasheet's table of output codes (ADS1115
// "Input Signal Versus Ideal Output Code"): at ±4.096 V, 7FFFh is
// +FS·(2^15−1)/2^15, 0001h is one LSB of 125 µV, FFFFh is −1 LSB and
// 8000h is −FS.
func TestADS1115Codes(t *testing.T) {
	// Configuration: OS single shot, MUX, PGA ±4.096 V (001), single-shot
	// mode, 128 SPS (100), comparator off (11).
	const a0, a1, a2, a0a1 = 0xC383, 0xD383, 0xE383, 0x8383
	var ops []i2ctest.IO
	ops = append(ops, probe)
	ops = append(ops, conv(a0, 0x7FFF)...)
	ops = append(ops, conv(a1, 0x0001)...)
	ops = append(ops, conv(a2, 0xFFFF)...)
	ops = append(ops, conv(a0a1, 0x8000)...)
	bus := &i2ctest.Playback{Ops: ops}
	d, err := ads1x15.Open(bus, ads1x15.AddrGND, ads1x15.ADS1115, ads1x15.Inputs(ads1x15.A0, ads1x15.A1, ads1x15.A2, ads1x15.A0MinusA1))
	if err != nil {
		t.Fatal(err)
	}
	desc := d.Describe()
	for i, l := range []string{"a0", "a1", "a2", "a0-a1"} {
		dim := desc.Dimension(i)
		if dim.Label != l || dim.Unit != "V" || *dim.Min != -4.096 || *dim.Max != 4.096 {
			t.Errorf("dimension %d = %+v, want %s in V within ±4.096", i, dim, l)
		}
	}
	dst := make([]float64, 4)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{4.096 * 32767 / 32768, 0.000125, -0.000125, -4.096} {
		if math.Abs(dst[i]-want) > 1e-12 {
			t.Errorf("%s = %v V, want %v", desc.Dimensions[i].Label, dst[i], want)
		}
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// TestADS1015 checks the 12-bit model: its code is left-justified, one
// LSB is 2 mV at ±4.096 V (7FF0h is 2047 LSB), and its slowest rate is
// 128 SPS (000).
func TestADS1015(t *testing.T) {
	bus := &i2ctest.Playback{Ops: append([]i2ctest.IO{probe}, conv(0xC303, 0x7FF0)...)}
	d, err := ads1x15.Open(bus, ads1x15.AddrGND, ads1x15.ADS1015, ads1x15.Inputs(ads1x15.A0))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if math.Abs(dst[0]-4.094) > 1e-12 {
		t.Errorf("a0 = %v V, want 4.094", dst[0])
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// TestFullScale checks that the gain sets the configuration's PGA bits
// and the dimensions' range.
func TestFullScale(t *testing.T) {
	// ±0.512 V is PGA 100; A3 is MUX 111.
	bus := &i2ctest.Playback{Ops: append([]i2ctest.IO{probe}, conv(0xF983, 0x0010)...)}
	d, err := ads1x15.Open(bus, ads1x15.AddrGND, ads1x15.ADS1115, ads1x15.Inputs(ads1x15.A3), ads1x15.FullScale(0.512))
	if err != nil {
		t.Fatal(err)
	}
	if dim := d.Describe().Dimension(0); *dim.Min != -0.512 || *dim.Max != 0.512 {
		t.Errorf("range %v..%v, want ±0.512", *dim.Min, *dim.Max)
	}
	dst := make([]float64, 1)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if want := 16 * 0.512 / 32768; math.Abs(dst[0]-want) > 1e-12 {
		t.Errorf("a3 = %v, want %v", dst[0], want)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := ads1x15.Open(&i2cfault.Bus{}, ads1x15.AddrVDD, ads1x15.ADS1115)
	if !errors.Is(err, i2cfault.ErrNACK) || !strings.Contains(err.Error(), "ads1115 on i2c bus \"I2C-fault\" at address 0x49") {
		t.Errorf("Open on an empty bus: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	ops := append([]i2ctest.IO{probe}, conv(0xC383, 0x1000)...)
	bus := &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: ops}, After: 3} // a1's conversion fails
	d, err := ads1x15.Open(bus, ads1x15.AddrGND, ads1x15.ADS1115, ads1x15.Inputs(ads1x15.A0, ads1x15.A1))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 2))
	if err == nil || !strings.Contains(err.Error(), "input a1") || !strings.Contains(err.Error(), i2cfault.ErrIO.Error()) ||
		!strings.Contains(err.Error(), "address 0x48") {
		t.Errorf("Read with a bus failing mid-read: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []ads1x15.Option{ads1x15.FullScale(5), ads1x15.Inputs(), ads1x15.Inputs(ads1x15.A0, ads1x15.A0),
		ads1x15.Inputs(8), ads1x15.DataRate(0)} {
		if _, err := ads1x15.Open(&i2cfault.Bus{}, ads1x15.AddrGND, ads1x15.ADS1115, o); err == nil || errors.Is(err, i2cfault.ErrNACK) {
			t.Errorf("Open with a bad option: %v", err)
		}
	}
	if _, err := ads1x15.Open(&i2cfault.Bus{}, 0x50, ads1x15.ADS1115); err == nil || !strings.Contains(err.Error(), "0x50") {
		t.Errorf("Open at 0x50: %v", err)
	}
	// A rate faster than the chip's fastest is periph's error, naming the input.
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{probe}}
	if _, err := ads1x15.Open(bus, ads1x15.AddrGND, ads1x15.ADS1115, ads1x15.DataRate(1000)); err == nil || !strings.Contains(err.Error(), "input a0") {
		t.Errorf("Open at 1000 SPS: %v", err)
	}
}

func TestFake(t *testing.T) {
	f := ads1x15.Fake(ads1x15.A0, ads1x15.A2MinusA3)
	d := f.Describe()
	if d.Len() != 2 || d.Dimensions[1].Label != "a2-a3" {
		t.Fatalf("fake description %+v", d)
	}
	dst := make([]float64, 2)
	if err := f.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for _, v := range dst {
		if v < 0 || v > 3.3 {
			t.Errorf("fake reading %v outside 0..3.3", v)
		}
	}
}
