package hd44780

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// The backpack's bytes for a nibble n with RS = rs, backlight on: E high,
// then E low (P0 RS, P2 E, P3 backlight, P4..P7 D4..D7).
func nib(n, rs byte) []byte { return []byte{n<<4 | 0x08 | 0x04 | rs, n<<4 | 0x08 | rs} }
func instr(v byte) []byte   { return append(nib(v>>4, 0), nib(v&0xF, 0)...) }
func data(v byte) []byte    { return append(nib(v>>4, 1), nib(v&0xF, 1)...) }

// initOps is the datasheet's 4-bit initialisation by instruction (HD44780U
// figure 24) as backpack writes at address a.
func initOps(a uint16) []i2ctest.IO {
	ops := []i2ctest.IO{
		{Addr: a, R: []byte{0xFF}}, // the PCF8574 answers
		{Addr: a, W: []byte{0x08}}, // E low, backlight on; wait > 40 ms
		{Addr: a, W: nib(0x3, 0)},  // function set (8-bit); wait > 4.1 ms
		{Addr: a, W: nib(0x3, 0)},  // wait > 100 µs
		{Addr: a, W: nib(0x3, 0)},  //
		{Addr: a, W: nib(0x2, 0)},  // function set: 4-bit
		{Addr: a, W: instr(0x28)},  // 4-bit, 2 lines, 5x8
		{Addr: a, W: instr(0x08)},  // display off
		{Addr: a, W: instr(0x01)},  // clear; wait 1.52 ms
		{Addr: a, W: instr(0x06)},  // entry mode: increment, no shift
		{Addr: a, W: instr(0x0C)},  // display on
	}
	return ops
}

func TestInitAndLine(t *testing.T) {
	// Worked out by hand from the datasheet: instruction 0x28 is the
	// nibbles 2 and 8, each latched by E: 0x2C 0x28 0x8C 0x88.
	if got := instr(0x28); !bytes.Equal(got, []byte{0x2C, 0x28, 0x8C, 0x88}) {
		t.Fatalf("instr(0x28) = %x", got)
	}
	line := instr(0x80 | 0x40) // row 1 starts at DDRAM 0x40
	for _, c := range append([]byte("Hi"), 0xDF) {
		line = append(line, data(c)...)
	}
	for range 13 {
		line = append(line, data(' ')...)
	}
	bus := &i2ctest.Playback{Ops: append(initOps(0x27), i2ctest.IO{Addr: 0x27, W: line})}
	d, err := Open(bus, 0x27)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.WriteLine(1, "Hi°"))
	must(t, d.WriteLine(1, "Hi°")) // unchanged: no transfer
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFake20x4(t *testing.T) {
	d := Fake(Size(20, 4))
	want := []byte{0x30, 0x30, 0x30, 0x20, 0x28, 0x08, 0x01, 0x06, 0x0C}
	if got := d.Chip.Instructions(); !bytes.Equal(got, want) {
		t.Errorf("instructions %x, want %x", got, want)
	}
	rows := []string{"Kervi", "temp 21.5°C", "a line longer than twenty characters", `back\slash é`}
	for r, s := range rows {
		must(t, d.WriteLine(r, s))
	}
	got := d.Chip.Codes()
	exp := []string{"Kervi", "temp 21.5\xdfC", "a line longer than t", `back\slash ?`}
	for r := range exp {
		e := exp[r] + strings.Repeat(" ", 20-len(exp[r]))
		if got[r] != e {
			t.Errorf("row %d = %q, want %q", r, got[r], e)
		}
	}
	must(t, d.Halt())
	if d.Chip.Backlight() || strings.TrimSpace(strings.Join(d.Chip.Lines(), "")) != "" {
		t.Errorf("after Halt: backlight %v, lines %q", d.Chip.Backlight(), d.Chip.Lines())
	}
	if err := d.WriteLine(4, "x"); err == nil || !strings.Contains(err.Error(), "row 4") {
		t.Errorf("row 4: %v", err)
	}
}

func TestOptions(t *testing.T) {
	for _, s := range [][2]int{{0, 2}, {16, 5}, {40, 4}, {81, 1}} {
		if _, err := Open(NewChip(DefaultAddr, 16, 2), DefaultAddr, Size(s[0], s[1])); err == nil {
			t.Errorf("size %dx%d accepted", s[0], s[1])
		}
	}
	d := Fake(Backlight(false))
	if d.Chip.Backlight() {
		t.Error("backlight on")
	}
}

func TestNoDevice(t *testing.T) {
	_, err := Open(&i2cfault.Bus{}, 0x3F)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `hd44780 on i2c bus "I2C-fault" at address 0x3f: no device answers: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "I2C-fault", 0x3F)
}

// checkBusError checks that err is a *bus.Error naming the display,
// busName and addr.
func checkBusError(t *testing.T, err error, busName string, addr uint16) {
	t.Helper()
	var be *bus.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *bus.Error", err, err)
	}
	if be.Chip != "hd44780" || be.Kind != bus.I2C || be.Bus != busName || !be.HasAddr || be.Addr != uint64(addr) {
		t.Errorf("bus.Error = %+v, want chip hd44780 on i2c bus %q at address %#x", *be, busName, addr)
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	for _, after := range []int{4, len(initOps(0))} { // during init; at the line
		c := NewChip(0x27, 16, 2)
		d, err := Open(&i2cfault.Bus{Inner: c, After: after}, 0x27)
		if after < len(initOps(0)) {
			if !errors.Is(err, i2cfault.ErrNACK) || !strings.HasPrefix(err.Error(), `hd44780 on i2c bus "fake-I2C" at address 0x27: initialising: writing `) {
				t.Errorf("fault at %d: %v", after, err)
			}
			checkBusError(t, err, "fake-I2C", 0x27)
			continue
		}
		must(t, err)
		err = d.WriteLine(0, "hello")
		if !errors.Is(err, i2cfault.ErrNACK) || !strings.HasPrefix(err.Error(), `hd44780 on i2c bus "fake-I2C" at address 0x27: row 0: writing `) {
			t.Errorf("line: %v", err)
		}
		checkBusError(t, err, "fake-I2C", 0x27)
	}
}

func TestDisplayController(t *testing.T) {
	d := Fake()
	h := ipctest.New()
	defer h.Close()
	var disp *Display
	if _, err := h.Module("lcd", func(ctx context.Context, bus *ipc.Bus) error {
		disp = NewDisplay(bus, "lcd", "LCD", d.Dev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ui, err := h.Module("ui", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(disp.Lines()) != 2 {
		t.Fatalf("%d line inputs", len(disp.Lines()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, h.Start(ctx))
	must(t, ui.Set(ctx, "lcd.line2", "from the UI"))
	waitLines(ctx, t, d.Chip, "                |from the UI     ")
	must(t, ui.Set(ctx, "lcd.line1", "hello"))
	waitLines(ctx, t, d.Chip, "hello           |from the UI     ")
	must(t, ui.Set(ctx, "lcd.backlight", false))
	for d.Chip.Backlight() {
		select {
		case <-d.Chip.Changed():
		case <-ctx.Done():
			t.Fatal("backlight still on")
		}
	}
	must(t, h.Stop("lcd"))
	if got := strings.Join(d.Chip.Lines(), "|"); strings.TrimSpace(strings.ReplaceAll(got, "|", "")) != "" {
		t.Errorf("after stop: %q", got)
	}
}

func waitLines(ctx context.Context, t *testing.T, c *Chip, want string) {
	t.Helper()
	for {
		ch := c.Changed()
		got := strings.Join(c.Lines(), "|")
		if got == want {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("display shows %q, want %q", got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
