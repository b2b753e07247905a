package ads1x15_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/ads1x15"
)

// An ADS1115 reading a potentiometer on A0 and a photoresistor divider on
// A1; as a sensor (sensors.New(bus, "adc", "ADC", dev)) it publishes
// "adc.a0" and "adc.a1" in volts. Here a script stands in for the bus (on
// a Pi: i2creg.Open("") after host.Init).
func Example() {
	ops := append([]i2ctest.IO{probe}, conv(0xC383, 0x3000)...)
	ops = append(ops, conv(0xD383, 0x1000)...)
	dev, err := ads1x15.Open(&i2ctest.Playback{Ops: ops}, ads1x15.AddrGND, ads1x15.ADS1115,
		ads1x15.Inputs(ads1x15.A0, ads1x15.A1), ads1x15.FullScale(4.096))
	if err != nil {
		fmt.Println(err)
		return
	}
	v := make([]float64, 2)
	if err := dev.Read(context.Background(), v); err != nil {
		fmt.Println(err)
		return
	}
	for i, d := range dev.Describe().Dimensions {
		fmt.Printf("%s: %.3f V\n", d.Label, v[i])
	}
	// Output:
	// a0: 1.536 V
	// a1: 0.512 V
}
