package bmxx80_test

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/kervi/kervi-go/devices/bmxx80"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
)

// A module opens a BMP280 in its setup and publishes its readings as the
// sensor "weather", with the values "weather.temperature" and
// "weather.pressure". On a Pi the I²C bus comes from periph
// (i2creg.Open("") after host.Init); here a script of the datasheet's
// example stands in for it, and a test hub for the application.
func Example() {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Connect("weather")
	if err != nil {
		fmt.Println(err)
		return
	}
	var i2cBus i2c.Bus = &i2ctest.Playback{Ops: bmp280Ops(0x76)}

	dev, err := bmxx80.Open(i2cBus, bmxx80.Addr76, bmxx80.Oversampling(1))
	if err != nil {
		fmt.Println(err) // names the bus and the address
		return
	}
	s := sensors.New(bus, "weather", "Weather", dev, sensors.Interval(time.Minute))
	// The sensor polls once the module has started; Poll reads at once.
	if err := s.Poll(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dev.Chip())
	for _, v := range s.Values() {
		fmt.Printf("%s: %.2f %s\n", v.ID(), v.Value(), v.Unit())
	}
	// Output:
	// BMP280
	// weather.temperature: 25.08 °C
	// weather.pressure: 1006.53 hPa
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
