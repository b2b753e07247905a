package tsl2561_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/tsl2561"
)

// Open the chip on an I²C bus (on a Pi: i2creg.Open("") after
// host.Init), then use it as a sensor's driver:
// sensors.New(bus, "light", "Light", dev). Here a script stands in for
// the bus: a TSL2561T counting 1000 and 250 in 13.7 ms at gain 1.
func Example() {
	dev, err := tsl2561.Open(&i2ctest.Playback{Ops: ops(0x50, 1000, 250)}, tsl2561.AddrFloat,
		tsl2561.WithGain(tsl2561.Gain1), tsl2561.WithIntegration(tsl2561.Integrate13ms))
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
	// Output: 10069 lx (0..71860)
}
