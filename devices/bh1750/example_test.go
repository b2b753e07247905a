package bh1750_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/bh1750"
)

// Open the chip on an I²C bus (on a Pi: i2creg.Open("") after
// host.Init), then use it as a sensor's driver:
// sensors.New(bus, "light", "Light", dev). Here a script of the
// datasheet's example stands in for the bus.
func Example() {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x23, W: []byte{0x01}},
		{Addr: 0x23, W: []byte{0x20}},
		{Addr: 0x23, R: []byte{0x83, 0x90}},
	}}
	dev, err := bh1750.Open(bus, bh1750.AddrLow)
	if err != nil {
		fmt.Println(err)
		return
	}
	lux := make([]float64, 1)
	if err := dev.Read(context.Background(), lux); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.0f lx (0..%.0f)\n", lux[0], *dev.Describe().Max)
	// Output: 28067 lx (0..54612)
}
