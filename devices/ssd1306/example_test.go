package ssd1306_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/kervi/kervi-go/devices/ssd1306"
)

// A 128x32 OLED: two lines of text, then a bar drawn as graphics. On a Pi:
// d, err := ssd1306.Open(bus, 0x3C, ssd1306.Size(128, 32)); in a module's
// setup, ssd1306.NewDisplay(bus, "oled", "OLED", d) makes its lines String
// inputs "oled.line1".."oled.line4". Here, a simulated display.
func Example() {
	d := ssd1306.Fake(ssd1306.Size(128, 32))
	if err := d.WriteLine(0, "Hi"); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(d.Chip.Text(image.Rect(0, 0, 12, 7)))

	bar := image.NewGray(d.Bounds())
	for x := range 64 {
		bar.SetGray(x, 30, color.Gray{Y: 255})
	}
	if err := d.Draw(bar); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Chip.Pixel(63, 30), d.Chip.Pixel(64, 30), d.Chip.Pixel(0, 0))
	// Output:
	// #...#...#...
	// #...#.......
	// #...#..##...
	// #####...#...
	// #...#...#...
	// #...#...#...
	// #...#..###..
	// true false false
}
