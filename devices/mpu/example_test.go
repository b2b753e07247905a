package mpu_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/mpu"
)

// An MPU-6050 lying flat: as a sensor (sensors.New(bus, "imu", "IMU",
// dev)) it publishes "imu.accel_x" ... "imu.gyro_z". Here a script stands
// in for the I²C bus (on a Pi: i2creg.Open("") after host.Init).
func Example() {
	ops := append(openOps(0x68, 0x68, 0, 0),
		i2ctest.IO{Addr: 0x68, W: []byte{0x3B}, R: burst(0, 164, 16384, 0, 0, 0, 131)})
	dev, err := mpu.Open(&i2ctest.Playback{Ops: ops}, mpu.AddrLow)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := make([]float64, 6)
	if err := dev.Read(context.Background(), r); err != nil {
		fmt.Println(err)
		return
	}
	for i, d := range dev.Describe().Dimensions {
		fmt.Printf("%s %.2f %s\n", d.Label, r[i], d.Unit)
	}
	// Output:
	// accel_x 0.00 g
	// accel_y 0.01 g
	// accel_z 1.00 g
	// gyro_x 0.00 °/s
	// gyro_y 0.00 °/s
	// gyro_z 1.00 °/s
}
