package bus_test

import (
	"errors"
	"fmt"

	"github.com/kervi/kervi-go/devices/bus"
)

// A chip package names the bus and the address in its errors.
func ExampleI2CError() {
	err := bus.I2CError("bme280", "1", 0x76, errors.New("chip id 0x58, want 0x60 (a BMP280?)"))
	fmt.Println(err)
	// Output: bme280 on i2c bus "1" at address 0x76: chip id 0x58, want 0x60 (a BMP280?)
}

// Opening a bus the host does not have says which buses it has.
func ExampleOpenI2C() {
	b, err := bus.OpenI2C("kervi-example-none")
	if errors.Is(err, bus.ErrNoBus) {
		fmt.Println("no such bus")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	// Output: no such bus
}
