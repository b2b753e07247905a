package hd44780_test

import (
	"fmt"

	"github.com/kervi/kervi-go/devices/hd44780"
)

// A 20x4 LCD on a backpack. On a Pi: d, err := hd44780.Open(bus, 0x27,
// hd44780.Size(20, 4)); in a module's setup, hd44780.NewDisplay(bus, "lcd",
// "LCD", d) makes its lines String inputs "lcd.line1".."lcd.line4" that a
// dashboard or a link can set. Here, a simulated LCD.
func Example() {
	d := hd44780.Fake(hd44780.Size(20, 4))
	for row, text := range []string{"Kervi", "Temp: 21.5°C"} {
		if err := d.WriteLine(row, text); err != nil {
			fmt.Println(err)
			return
		}
	}
	for _, l := range d.Chip.Lines() {
		fmt.Printf("|%s|\n", l)
	}
	// Output:
	// |Kervi               |
	// |Temp: 21.5°C        |
	// |                    |
	// |                    |
}
