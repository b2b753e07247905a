package pcf8574_test

import (
	"fmt"

	"github.com/kervi/kervi-go/devices/pcf8574"
	"periph.io/x/conn/v3/gpio"
)

// A relay board on P0 (active low, as most are) and a button to ground on
// P7. On a Pi, the bus comes from devices/bus or periph's i2creg and the
// chip from pcf8574.Open(bus, 0x20); here, a simulated chip.
func Example() {
	d := pcf8574.Fake()
	relay, button := d.Pin(0), d.Pin(7)
	if err := relay.Out(gpio.Low); err != nil { // relay on
		fmt.Println(err)
		return
	}
	if err := button.In(gpio.PullUp, gpio.NoEdge); err != nil {
		fmt.Println(err)
		return
	}
	d.Chip.Drive(7, gpio.Low) // someone presses the button
	fmt.Println("button:", button.Read(), "port:", fmt.Sprintf("%08b", d.Chip.Latch()))
	// Output:
	// button: Low port: 11111110
}
