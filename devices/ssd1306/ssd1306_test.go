package ssd1306

import (
	"context"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// initCmd is periph's initialisation of a 128x32 display (datasheet's
// software initialisation flow, figure 2 of its application note): display
// off, offset 0, start line 0, segment remap, COM scan reversed, COM pins
// (alternative), contrast 0xFF, RAM content, normal, clock 0xF0, charge
// pump on, pre-charge, VCOMH, scroll off, multiplex 31, horizontal
// addressing, columns 0..127, pages 0..3, display on.
var initCmd = []byte{0x00, 0xAE, 0xD3, 0x00, 0x40, 0xA1, 0xC8, 0xDA, 0x12, 0x81, 0xFF, 0xA4, 0xA6,
	0xD5, 0xF0, 0x8D, 0x14, 0xD9, 0xF1, 0xDB, 0x40, 0x2E, 0xA8, 31, 0x20, 0x00, 0x21, 0, 127, 0x22, 0, 3, 0xAF}

func TestScripted(t *testing.T) {
	const a = 0x3D // periph's NewI2C alone would talk to 0x3C
	ops := []i2ctest.IO{{Addr: a, W: initCmd}}
	for p := range byte(4) { // the first frame, blank, page by page
		ops = append(ops, i2ctest.IO{Addr: a, W: []byte{0x00, 0xB0 | p, 0x00, 0x10}},
			i2ctest.IO{Addr: a, W: append([]byte{0x40}, make([]byte, 128)...)})
	}
	// "H" on line 0: only page 0, columns 0..4 differ; each byte is a
	// column of 8 pixels, bit 0 at the top.
	ops = append(ops, i2ctest.IO{Addr: a, W: []byte{0x00, 0xB0, 0x00, 0x10}},
		i2ctest.IO{Addr: a, W: []byte{0x40, 0x7F, 0x08, 0x08, 0x08, 0x7F}},
		i2ctest.IO{Addr: a, W: []byte{0x00, 0xAE}}) // Halt
	bus := &i2ctest.Playback{Ops: ops}
	d, err := Open(bus, a, Size(128, 32))
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows() != 4 || d.Cols() != 21 {
		t.Errorf("%d rows of %d", d.Rows(), d.Cols())
	}
	must(t, d.WriteLine(0, "H"))
	must(t, d.WriteLine(0, "H")) // unchanged: nothing sent
	must(t, d.Halt())
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFakeText(t *testing.T) {
	d := Fake()
	if d.Rows() != 8 || !d.Chip.On() {
		t.Fatalf("%d rows, on %v", d.Rows(), d.Chip.On())
	}
	must(t, d.WriteLine(7, "°C"))
	want := "" +
		".##....###..\n" +
		"#..#..#...#.\n" +
		"#..#..#.....\n" +
		".##...#.....\n" +
		"......#.....\n" +
		"......#...#.\n" +
		".......###..\n" +
		"............\n"
	if got := d.Chip.Text(image.Rect(0, 56, 12, 64)); got != want {
		t.Errorf("line 7:\n%swant:\n%s", got, want)
	}
	must(t, d.WriteLine(7, "this line is longer than 21 characters"))
	if d.Line(7) != "this line is longer t" {
		t.Errorf("line 7 = %q", d.Line(7))
	}
	must(t, d.WriteLine(7, ""))
	if strings.Contains(d.Chip.Text(image.Rect(0, 56, 128, 64)), "#") {
		t.Error("line 7 not blank")
	}
	if err := d.WriteLine(8, "x"); err == nil || !strings.Contains(err.Error(), "line 8") {
		t.Errorf("line 8: %v", err)
	}
}

func TestFakeDraw(t *testing.T) {
	d := Fake(Size(128, 32))
	img := image.NewGray(image.Rect(0, 0, 128, 32))
	for x := 10; x < 20; x++ {
		for y := 5; y < 25; y++ {
			img.SetGray(x, y, color.Gray{Y: 200})
		}
	}
	img.SetGray(100, 30, color.Gray{Y: 100}) // darker than mid-grey: off
	must(t, d.Draw(img))
	for _, c := range []struct {
		x, y int
		on   bool
	}{{10, 5, true}, {19, 24, true}, {9, 5, false}, {20, 24, false}, {15, 4, false}, {100, 30, false}} {
		if d.Chip.Pixel(c.x, c.y) != c.on {
			t.Errorf("pixel (%d, %d) = %v", c.x, c.y, !c.on)
		}
	}
	if d.Chip.Frame().BitAt(15, 15) != true || d.Frame().BitAt(15, 15) != true {
		t.Error("frames differ")
	}
	must(t, d.Clear())
	if d.Chip.Pixel(15, 15) {
		t.Error("pixel lit after Clear")
	}
	must(t, d.SetContrast(0x20))
	if d.Chip.Contrast() != 0x20 {
		t.Errorf("contrast %#x", d.Chip.Contrast())
	}
}

func TestOptions(t *testing.T) {
	for _, s := range [][2]int{{130, 64}, {128, 72}, {128, 30}, {0, 8}} {
		if _, err := Open(NewChip(DefaultAddr, 128, 64), DefaultAddr, Size(s[0], s[1])); err == nil || !strings.Contains(err.Error(), "0x3c") {
			t.Errorf("size %v: %v", s, err)
		}
	}
	d := Fake(Size(96, 16), Rotate180(), Sequential())
	if d.Rows() != 2 || d.Cols() != 16 {
		t.Errorf("96x16: %d rows of %d", d.Rows(), d.Cols())
	}
}

func TestNoDevice(t *testing.T) {
	_, err := Open(&i2cfault.Bus{}, 0x3C)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `ssd1306 on i2c bus "I2C-fault" at address 0x3c: no device answers: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "I2C-fault")
}

// checkBusError checks that err is a *bus.Error naming the chip, busName
// and address 0x3c.
func checkBusError(t *testing.T, err error, busName string) {
	t.Helper()
	var be *bus.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *bus.Error", err, err)
	}
	if be.Chip != "ssd1306" || be.Kind != bus.I2C || be.Bus != busName || !be.HasAddr || be.Addr != 0x3C {
		t.Errorf("bus.Error = %+v, want chip ssd1306 on i2c bus %q at address 0x3c", *be, busName)
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	c := NewChip(0x3C, 128, 32)
	d, err := Open(&i2cfault.Bus{Inner: c, After: 1 + 2*4 + 1}, 0x3C, Size(128, 32)) // init, frame, then a command
	if err != nil {
		t.Fatal(err)
	}
	err = d.WriteLine(1, "hello")
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `ssd1306 on i2c bus "fake-I2C" at address 0x3c: line 1: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "fake-I2C")
	if d.Line(1) != "" {
		t.Errorf("line 1 = %q after a failed write", d.Line(1))
	}
}

func TestDisplayController(t *testing.T) {
	d := Fake(Size(128, 32))
	h := ipctest.New()
	defer h.Close()
	var disp *Display
	if _, err := h.Module("oled", func(ctx context.Context, bus *ipc.Bus) error {
		disp = NewDisplay(bus, "oled", "OLED", d.Dev)
		logo := image.NewGray(d.Bounds())
		logo.SetGray(127, 0, color.Gray{Y: 255})
		return d.Draw(logo) // stays: the lines are empty at Start
	}); err != nil {
		t.Fatal(err)
	}
	ui, err := h.Module("ui", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(disp.Lines()) != 4 {
		t.Fatalf("%d line inputs, want 4", len(disp.Lines()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, h.Start(ctx))
	if !d.Chip.Pixel(127, 0) {
		t.Error("the setup's graphics erased at Start")
	}
	must(t, ui.Set(ctx, "oled.line3", "I"))
	band := image.Rect(0, 16, 6, 24)
	want := "" +
		".###..\n" +
		"..#...\n" +
		"..#...\n" +
		"..#...\n" +
		"..#...\n" +
		"..#...\n" +
		".###..\n" +
		"......\n"
	for {
		ch := d.Chip.Changed()
		if d.Chip.Text(band) == want {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("line 3 shows\n%s", d.Chip.Text(band))
		}
	}
	must(t, h.Stop("oled"))
	if d.Chip.On() || d.Chip.Pixel(2, 16) {
		t.Errorf("after stop: on %v, pixel %v", d.Chip.On(), d.Chip.Pixel(2, 16))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
