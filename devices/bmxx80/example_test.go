package bmxx80_test

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/bmxx80"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

// A module's setup opens a BMP280 on an I²C bus and publishes its
// readings as the sensor "weather", with the values "weather.temperature"
// and "weather.pressure". On a Pi the bus comes from periph
// (i2creg.Open("") after host.Init); here a recording of the datasheet's
// example stands in for it.
func Example() {
	var bus i2c.Bus = &i2ctest.Playback{Ops: bmp280Ops(0x76)}
	setup := func(ctx context.Context, b *ipc.Bus) error {
		dev, err := bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Oversampling(1))
		if err != nil {
			return err // names the bus and the address
		}
		sensors.New(b, "weather", "Weather", dev, sensors.Interval(time.Minute))
		return nil
	}
	_ = setup // run by kervi as a module's setup

	// The driver on its own:
	dev, err := bmxx80.Open(bus, bmxx80.Addr76, bmxx80.Oversampling(1))
	if err != nil {
		fmt.Println(err)
		return
	}
	r := make([]float64, dev.Describe().Len())
	if err := dev.Read(context.Background(), r); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v: %.2f °C, %.2f hPa\n", dev.Chip(), r[0], r[1])
	// Output:
	// BMP280: 25.08 °C, 1006.53 hPa
}

// Without the chip, a fake with the same description: here a BME280's.
func ExampleFake() {
	dev := bmxx80.Fake(bmxx80.BME280)
	for i, d := range dev.Describe().Dimensions {
		fmt.Printf("%d %s %s %g..%g\n", i, d.Label, d.Unit, *d.Min, *d.Max)
	}
	// Output:
	// 0 temperature °C -40..85
	// 1 pressure hPa 300..1100
	// 2 humidity % 0..100
}
