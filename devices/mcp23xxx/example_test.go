package mcp23xxx_test

import (
	"fmt"

	"github.com/kervi/kervi-go/devices/mcp23xxx"
	"periph.io/x/conn/v3/gpio"
)

// An LED on GPA0 and a switch to ground on GPB7 (pin 15) of an MCP23017.
// On a Pi: d, err := mcp23xxx.Open(bus, mcp23xxx.MCP23017, 0x20); its
// pins are periph gpio.PinIO, for devices/gpio or direct use. Here, a
// simulated chip.
func Example() {
	d := mcp23xxx.Fake(mcp23xxx.MCP23017)
	defer d.Close()
	led, sw := d.Pin(0), d.Pin(15)
	if err := led.Out(gpio.High); err != nil {
		fmt.Println(err)
		return
	}
	if err := sw.In(gpio.PullUp, gpio.NoEdge); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(led.Label(), d.Chip.Level(0), sw.Label(), sw.Read())
	d.Chip.Drive(15, gpio.Low) // the switch closes
	fmt.Println(sw.Label(), sw.Read())
	// Output:
	// GPA0 High GPB7 High
	// GPB7 Low
}
