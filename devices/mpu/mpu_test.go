package mpu_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"github.com/kervi/kervi-go/devices/mpu"
)

// openOps is the traffic of Open of a chip answering WHO_AM_I with id, at
// FS_SEL fs and AFS_SEL afs.
func openOps(addr uint16, id, fs, afs byte) []i2ctest.IO {
	return []i2ctest.IO{
		{Addr: addr, W: []byte{0x75}, R: []byte{id}},
		{Addr: addr, W: []byte{0x6B, 0x01}},
		{Addr: addr, W: []byte{0x1A, 0x03}},
		{Addr: addr, W: []byte{0x1B, fs << 3}},
		{Addr: addr, W: []byte{0x1C, afs << 3}},
	}
}

// burst returns the 14 bytes from ACCEL_XOUT_H: accel x, y, z,
// temperature, gyro x, y, z.
func burst(w ...int16) []byte {
	var b []byte
	for _, v := range w {
		b = append(b, byte(uint16(v)>>8), byte(v))
	}
	return b
}

// TestSensitivity checks the register map's sensitivities: at AFS_SEL 0
// 16384 LSB/g, at FS_SEL 0 131 LSB/(°/s) (exactly 32768/250 = 131.072);
// at AFS_SEL 3 2048 LSB/g, at FS_SEL 3 16.4 LSB/(°/s) (16.384). The
// extremes of the codes stay within the ranges.
func TestSensitivity(t *testing.T) {
	ops := append(openOps(0x68, 0x68, 0, 0),
		i2ctest.IO{Addr: 0x68, W: []byte{0x3B}, R: burst(16384, -8192, -32768, 1234, 131, -262, 32767)})
	bus := &i2ctest.Playback{Ops: ops}
	d, err := mpu.Open(bus, mpu.AddrLow, mpu.Want(mpu.MPU6050))
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 6)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	want := []float64{1, -0.5, -2, 1, -2, 250 * 32767 / 32768.0}
	for i, w := range want {
		if math.Abs(dst[i]-w) > 0.001*math.Abs(w) { // the datasheet's rounding of 131.072
			t.Errorf("%s = %v, want %v", d.Describe().Dimensions[i].Label, dst[i], w)
		}
	}
	desc := d.Describe()
	for i, dim := range desc.Dimensions {
		if dst[i] < *dim.Min || dst[i] > *dim.Max {
			t.Errorf("%s = %v outside [%v, %v]", dim.Label, dst[i], *dim.Min, *dim.Max)
		}
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}

	ops = append(openOps(0x69, 0x71, 3, 3),
		i2ctest.IO{Addr: 0x69, W: []byte{0x3B}, R: burst(2048, 0, -2048, 0, 164, 0, -164)})
	bus = &i2ctest.Playback{Ops: ops}
	d, err = mpu.Open(bus, mpu.AddrHigh, mpu.AccelRange(16), mpu.GyroRange(2000))
	if err != nil {
		t.Fatal(err)
	}
	if d.Chip() != mpu.MPU9250 {
		t.Errorf("WHO_AM_I 0x71 gives %v, want MPU-9250", d.Chip())
	}
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for i, w := range []float64{1, 0, -1, 10, 0, -10} {
		if math.Abs(dst[i]-w) > 0.001*math.Abs(w) {
			t.Errorf("at ±16 g, ±2000 °/s: dimension %d = %v, want %v", i, dst[i], w)
		}
	}
	desc = d.Describe()
	if *desc.Dimensions[0].Max != 16 || *desc.Dimensions[5].Min != -2000 || desc.Dimensions[5].Unit != "°/s" || desc.Dimensions[2].Unit != "g" {
		t.Errorf("description at ±16 g, ±2000 °/s: %+v", desc)
	}
	if err := bus.Close(); err != nil {
		t.Error(err)
	}
}

func TestWrongChipID(t *testing.T) {
	bus := &i2ctest.Playback{Ops: openOps(0x68, 0x12, 0, 0)[:1]}
	_, err := mpu.Open(bus, mpu.AddrLow)
	if err == nil || !strings.Contains(err.Error(), "WHO_AM_I 0x12") || !strings.Contains(err.Error(), `bus "playback" at address 0x68`) {
		t.Errorf("Open of a chip answering 0x12: %v", err)
	}
	bus = &i2ctest.Playback{Ops: openOps(0x68, 0x71, 0, 0)[:1]}
	_, err = mpu.Open(bus, mpu.AddrLow, mpu.Want(mpu.MPU6050))
	if err == nil || !strings.Contains(err.Error(), "found MPU-9250 (WHO_AM_I 0x71), want MPU-6050 (0x68)") {
		t.Errorf("Open of an MPU-9250 wanting an MPU-6050: %v", err)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := mpu.Open(&i2cfault.Bus{}, mpu.AddrLow)
	if !errors.Is(err, i2cfault.ErrNACK) || !strings.Contains(err.Error(), "mpu on i2c bus \"I2C-fault\" at address 0x68: read WHO_AM_I") {
		t.Errorf("Open on an empty bus: %v", err)
	}
}

func TestBusErrorMidRead(t *testing.T) {
	ops := openOps(0x68, 0x68, 0, 0)
	bus := &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: ops}, After: len(ops)}
	d, err := mpu.Open(bus, mpu.AddrLow)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Read(context.Background(), make([]float64, 6))
	if !errors.Is(err, i2cfault.ErrIO) || !strings.Contains(err.Error(), "mpu6050 on i2c bus \"playback\" at address 0x68: read") {
		t.Errorf("Read with a failing bus: %v", err)
	}
	// A failure while configuring names the register.
	bus = &i2cfault.Bus{Err: i2cfault.ErrIO, Inner: &i2ctest.Playback{Ops: ops}, After: 2}
	if _, err := mpu.Open(bus, mpu.AddrLow); !errors.Is(err, i2cfault.ErrIO) || !strings.Contains(err.Error(), "register 0x1a") {
		t.Errorf("Open with a bus failing mid-configuration: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []mpu.Option{mpu.AccelRange(3), mpu.GyroRange(300), mpu.Want(0x12)} {
		if _, err := mpu.Open(&i2cfault.Bus{}, mpu.AddrLow, o); err == nil || errors.Is(err, i2cfault.ErrNACK) {
			t.Errorf("Open with a bad option: %v", err)
		}
	}
	if _, err := mpu.Open(&i2cfault.Bus{}, 0x70); err == nil || !strings.Contains(err.Error(), "0x70") {
		t.Errorf("Open at 0x70: %v", err)
	}
}

func TestFake(t *testing.T) {
	f := mpu.Fake()
	desc := f.Describe()
	if desc.Len() != 6 {
		t.Fatalf("fake has %d dimensions", desc.Len())
	}
	dst := make([]float64, 6)
	if err := f.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	for i, dim := range desc.Dimensions {
		if dst[i] < *dim.Min || dst[i] > *dim.Max {
			t.Errorf("fake %s = %v outside its range", dim.Label, dst[i])
		}
	}
	if dst[2] < 0.95 {
		t.Errorf("fake accel_z = %v, want about 1 g", dst[2])
	}
}
