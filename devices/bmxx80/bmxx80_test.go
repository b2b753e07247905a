package bmxx80_test

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/bmxx80"
	kbus "github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
)

// cal280 is the BMP280 datasheet's worked example (section 3.12 and 8.2):
// dig_T1..dig_P9, then padding.
var cal280 = []any{
	uint16(27504), int16(26435), int16(-1000),
	uint16(36477), int16(-10685), int16(3024), int16(2855), int16(140), int16(-7), int16(15500), int16(-14600), int16(6000),
}

// calBytes returns registers 0x88..0xA1: the calibration words, a
// reserved byte and dig_H1.
func calBytes(h1 byte) []byte {
	var b []byte
	for _, v := range cal280 {
		b, _ = binary.Append(b, binary.LittleEndian, v)
	}
	return append(b, 0, h1)
}

// raw20 returns the three registers of a 20-bit measurement.
func raw20(v uint32) []byte { return []byte{byte(v >> 12), byte(v >> 4), byte(v << 4)} }

const (
	adcT = 519888 // datasheet example
	adcP = 415148
)

// bmp280Ops is the traffic of Open with Oversampling(1) and one Read of
// the datasheet's example.
func bmp280Ops(addr uint16) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0xD0}, R: []byte{0x58}}, // our chip id check
		{Addr: addr, W: []byte{0xD0}, R: []byte{0x58}}, // periph's
		{Addr: addr, W: []byte{0x88}, R: calBytes(0)},
		// ctrl_meas: osrs_t=1x, osrs_p=1x, sleep; config: standby 1 s, no filter.
		{Addr: addr, W: []byte{0xF4, 0x24, 0xF5, 0xA0, 0xF4, 0x24}},
		// Read: forced mode, status idle, data.
		{Addr: addr, W: []byte{0xF4, 0x25}},
		{Addr: addr, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: addr, W: []byte{0xF7}, R: append(raw20(adcP), raw20(adcT)...)},
	}
}

// checkExample checks a reading of the datasheet's example: T = 25.08 °C
// and p = 100653.27 Pa. The datasheet's p comes from its floating-point
// formulas (with t_fine = 128422.2869); the 64-bit integer ones, which
// periph uses, give 25767233 / 256 = 100653.254 Pa, within 0.02 Pa of it
// (the chip's resolution at 1x oversampling is 2.62 Pa).
func checkExample(t *testing.T, dst []float64) {
	t.Helper()
	if dst[0] != 25.08 {
		t.Errorf("temperature = %v °C, want 25.08", dst[0])
	}
	if math.Abs(dst[1]*100-100653.27) > 0.02 {
		t.Errorf("pressure = %v hPa, want 1006.5327 (100653.27 Pa)", dst[1])
	}
}

func TestBMP280DatasheetExample(t *testing.T) {
	bus := &i2ctest.Playback{Ops: bmp280Ops(0x77)}
	d, err := bmxx80.Open(bus, bmxx80.Addr77, bmxx80.Oversampling(1), bmxx80.Want(bmxx80.BMP280))
	if err != nil {
		t.Fatal(err)
	}
	if d.Chip() != bmxx80.BMP280 {
		t.Errorf("Chip() = %v, want BMP280", d.Chip())
	}
	dst := make([]float64, d.Describe().Len())
	if len(dst) != 2 {
		t.Fatalf("a BMP280 has %d dimensions, want 2", len(dst))
	}
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	checkExample(t, dst)
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// humidity is the BME280 datasheet's floating-point compensation (section
// 8.1), an implementation independent of periph's integer one.
func humidity(adcH, tFine float64, h1, h2, h3, h4, h5, h6 float64) float64 {
	v := tFine - 76800
	v = (adcH - (h4*64 + h5/16384*v)) * (h2 / 65536 * (1 + h6/67108864*v*(1+h3/67108864*v)))
	v *= 1 - h1*v/524288
	return min(max(v, 0), 100)
}

func TestBME280Humidity(t *testing.T) {
	const h1, h2, h3, h4, h5, h6 = 75, 362, 0, 313, 50, 30
	const adcH = 0x6A3B
	e := []byte{byte(h2 & 0xFF), byte(h2 >> 8), h3, h4 >> 4, h4&0xF | (h5&0xF)<<4, h5 >> 4, h6}
	ops := []i2ctest.IO{
		{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x60}},
		{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x60}},
		{Addr: 0x76, W: []byte{0x88}, R: calBytes(h1)},
		{Addr: 0x76, W: []byte{0xE1}, R: e},
		// Default oversampling 4x: ctrl_meas 0x6C, ctrl_hum 0x03, config 0xA0.
		{Addr: 0x76, W: []byte{0xF4, 0x6C, 0xF2, 0x03, 0xF5, 0xA0, 0xF4, 0x6C}},
		{Addr: 0x76, W: []byte{0xF4, 0x6D}},
		{Addr: 0x76, W: []byte{0xF3}, R: []byte{0x08}}, // measuring
		{Addr: 0x76, W: []byte{0xF3}, R: []byte{0x00}},
		{Addr: 0x76, W: []byte{0xF7}, R: append(append(raw20(adcP), raw20(adcT)...), adcH>>8, adcH&0xFF)},
	}
	bus := &i2ctest.Playback{Ops: ops}
	d, err := bmxx80.Open(bus, bmxx80.Addr76)
	if err != nil {
		t.Fatal(err)
	}
	desc := d.Describe()
	if desc.Len() != 3 || desc.Dimensions[2].Label != "humidity" || desc.Dimensions[2].Unit != "%" {
		t.Fatalf("BME280 description = %+v, want temperature, pressure, humidity in %%", desc)
	}
	dst := make([]float64, 3)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	// t_fine of the datasheet example, floating-point version.
	v1 := (adcT/16384.0 - 27504/1024.0) * 26435
	v2 := (adcT/131072.0 - 27504/8192.0) * (adcT/131072.0 - 27504/8192.0) * -1000
	want := humidity(adcH, v1+v2, h1, h2, h3, h4, h5, h6)
	if want < 1 || want > 99 {
		t.Fatalf("test data gives humidity %v, not a useful check", want)
	}
	if math.Abs(dst[2]-want) > 0.05 {
		t.Errorf("humidity = %v %%, want %v (datasheet formula)", dst[2], want)
	}
	checkExample(t, dst)
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

// TestBMP180DatasheetExample checks the BMP180 datasheet's worked example
// (section 3.5): UT = 27898, UP = 23843 at oss = 0 give 15.0 °C and
// 69964 Pa.
func TestBMP180DatasheetExample(t *testing.T) {
	var cal []byte
	for _, v := range []any{int16(408), int16(-72), int16(-14383), uint16(32741), uint16(32757), uint16(23153),
		int16(6190), int16(4), int16(-32768), int16(-8711), int16(2868)} {
		cal, _ = binary.Append(cal, binary.BigEndian, v)
	}
	ops := []i2ctest.IO{
		{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x55}},
		{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x55}},
		{Addr: 0x77, W: []byte{0xAA}, R: cal},
		{Addr: 0x77, W: []byte{0xF4, 0x2E}},
		{Addr: 0x77, W: []byte{0xF6}, R: []byte{27898 >> 8, 27898 & 0xFF}},
		{Addr: 0x77, W: []byte{0xF4, 0x34}},
		{Addr: 0x77, W: []byte{0xF6}, R: []byte{23843 >> 8, 23843 & 0xFF, 0}},
	}
	bus := &i2ctest.Playback{Ops: ops}
	d, err := bmxx80.Open(bus, bmxx80.Addr77, bmxx80.Oversampling(1))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 2)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 15 || dst[1] != 699.64 {
		t.Errorf("BMP180 reading = %v °C, %v hPa; want 15, 699.64", dst[0], dst[1])
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := bmxx80.Open(&i2cfault.Bus{}, bmxx80.Addr76)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("Open on an empty bus: %v, want ErrNACK", err)
	}
	var be *kbus.Error
	if !errors.As(err, &be) || be.Chip != "bmxx80" || be.Bus != "I2C-fault" || be.Addr != 0x76 {
		t.Errorf("Open on an empty bus: %#v, want a *bus.Error naming chip, bus and address", err)
	}
	for _, s := range []string{"I2C-fault", "0x76", "chip id"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}

func TestWrongChipID(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x77, W: []byte{0xD0}, R: []byte{0x61}}}}
	_, err := bmxx80.Open(bus, bmxx80.Addr77)
	if err == nil || !strings.Contains(err.Error(), "chip id 0x61") || !strings.Contains(err.Error(), `bus "playback" at address 0x77`) {
		t.Errorf("Open of a chip with id 0x61: %v, want an error naming the id, bus and address", err)
	}
	bus = &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x76, W: []byte{0xD0}, R: []byte{0x58}}}}
	_, err = bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Want(bmxx80.BME280))
	if err == nil || !strings.Contains(err.Error(), "found BMP280 (chip id 0x58), want BME280 (chip id 0x60)") {
		t.Errorf("Open of a BMP280 wanting a BME280: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []bmxx80.Option{bmxx80.Oversampling(3), bmxx80.Want(0x61)} {
		if _, err := bmxx80.Open(&i2cfault.Bus{}, 0x76, o); err == nil || errors.Is(err, i2cfault.ErrNACK) {
			t.Errorf("Open with a bad option: %v, want the option's error before any bus traffic", err)
		}
	}
	if _, err := bmxx80.Open(&i2cfault.Bus{}, 0x40); err == nil || !strings.Contains(err.Error(), "0x40") {
		t.Errorf("Open at 0x40: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	ops := bmp280Ops(0x76)
	bus := &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: ops}, After: len(ops) - 1} // the data read fails
	d, err := bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Oversampling(1))
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 2))
	if err == nil || !strings.Contains(err.Error(), i2cfault.ErrIO.Error()) || !strings.Contains(err.Error(), "bmp280 on i2c bus \"playback\" at address 0x76") {
		t.Errorf("Read with a failing bus: %v, want the I/O error naming chip, bus and address", err)
	}
}

func TestReadHonoursContext(t *testing.T) {
	ops := bmp280Ops(0x76)
	bus := &i2ctest.Playback{Ops: ops[:4]} // no traffic allowed after Open
	d, err := bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Oversampling(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Read(ctx, make([]float64, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with an ended context: %v, want context.Canceled", err)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestReadWrongLength(t *testing.T) {
	bus := &i2ctest.Playback{Ops: bmp280Ops(0x76)[:4]} // no traffic allowed after Open
	d, err := bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Oversampling(1))
	if err != nil {
		t.Fatal(err)
	}
	var be *kbus.Error
	err = d.Read(context.Background(), make([]float64, 3))
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "bmp280 on i2c bus \"playback\" at address 0x76: read into 3 numbers, want 2") {
		t.Errorf("Read into 3 numbers on a BMP280: %v, want a *bus.Error naming chip, bus and address", err)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestFake(t *testing.T) {
	for _, c := range []bmxx80.Chip{bmxx80.BMP180, bmxx80.BMP280, bmxx80.BME280} {
		f := bmxx80.Fake(c)
		desc := f.Describe()
		want := bmxx80.Describe(c)
		if desc.Len() != want.Len() {
			t.Fatalf("%v: fake has %d dimensions, want %d", c, desc.Len(), want.Len())
		}
		dst := make([]float64, desc.Len())
		if err := f.Read(context.Background(), dst); err != nil {
			t.Fatal(err)
		}
		for i, x := range dst {
			dim, w := desc.Dimension(i), want.Dimension(i)
			if dim.Label != w.Label || dim.Unit != w.Unit || *dim.Min != *w.Min || *dim.Max != *w.Max {
				t.Errorf("%v: fake dimension %d = %s in %s [%v, %v], want %s in %s [%v, %v]",
					c, i, dim.Label, dim.Unit, *dim.Min, *dim.Max, w.Label, w.Unit, *w.Min, *w.Max)
			}
			if x < *dim.Min || x > *dim.Max {
				t.Errorf("%v: fake %s = %v, outside [%v, %v]", c, dim.Label, x, *dim.Min, *dim.Max)
			}
		}
	}
}
