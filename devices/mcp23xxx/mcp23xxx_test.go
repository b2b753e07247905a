package mcp23xxx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestMCP23017(t *testing.T) {
	const a = 0x21
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: a, W: []byte{0x00}, R: []byte{0xFF}}, // IODIRA read on open
		{Addr: a, W: []byte{0x01}, R: []byte{0xFF}}, // IODIRB
		// GPB2 (pin 10) output high: OLATB first (read, bit 2 set), then
		// IODIRB; periph then reads OLATB, finds bit 2 set, writes nothing
		{Addr: a, W: []byte{0x15}, R: []byte{0x00}},
		{Addr: a, W: []byte{0x15, 0x04}},
		{Addr: a, W: []byte{0x01, 0xFB}},
		{Addr: a, W: []byte{0x15}, R: []byte{0x04}},
		// GPB2 low: IODIRB cached, OLATB written
		{Addr: a, W: []byte{0x15, 0x00}},
		// GPA7 (pin 7) input with pull-up: IODIRA unchanged, GPPUA read and written
		{Addr: a, W: []byte{0x0C}, R: []byte{0x00}},
		{Addr: a, W: []byte{0x0C, 0x80}},
		// read GPIOA twice
		{Addr: a, W: []byte{0x12}, R: []byte{0x80}},
		{Addr: a, W: []byte{0x12}, R: []byte{0x00}},
	}}
	d, err := Open(bus, MCP23017, a)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := len(d.Pins()); n != 16 {
		t.Fatalf("%d pins, want 16", n)
	}
	p10 := d.Pin(10)
	if p10.Label() != "GPB2" || p10.Name() != "MCP23017_21_PORTB_2" || p10.Number() != 10 {
		t.Errorf("pin 10: %s %s %d", p10.Label(), p10.Name(), p10.Number())
	}
	must(t, p10.Out(gpio.High))
	must(t, p10.Out(gpio.Low))
	if p10.Func() != gpio.OUT {
		t.Errorf("GPB2 is %s", p10.Func())
	}
	p7 := d.Pin(7)
	must(t, p7.In(gpio.PullUp, gpio.NoEdge))
	if p7.Pull() != gpio.PullUp {
		t.Errorf("pull = %s", p7.Pull())
	}
	if p7.Read() != gpio.High || p7.Read() != gpio.Low || d.Err() != nil {
		t.Errorf("reads of GPA7 wrong, err %v", d.Err())
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMCP23008(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x20, W: []byte{0x00}, R: []byte{0xFF}}, // IODIR
		{Addr: 0x20, W: []byte{0x0A}, R: []byte{0x00}}, // OLAT read
		{Addr: 0x20, W: []byte{0x0A, 0x20}},            // GP5 latched high
		{Addr: 0x20, W: []byte{0x00, 0xDF}},            // GP5 output
		{Addr: 0x20, W: []byte{0x0A}, R: []byte{0x20}}, // periph's OLAT read: no write
		{Addr: 0x20, W: []byte{0x09}, R: []byte{0x20}}, // GPIO read
	}}
	d, err := Open(bus, MCP23008, 0x20)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := len(d.Pins()); n != 8 || d.Pin(5).Label() != "GP5" {
		t.Fatalf("%d pins, pin 5 %s", n, d.Pin(5).Label())
	}
	must(t, d.Pin(5).Out(gpio.High))
	if d.Pin(5).Read() != gpio.High {
		t.Error("GP5 reads low")
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := Open(&i2cfault.Bus{}, MCP23017, 0x20)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `mcp23017 on i2c bus "I2C-fault" at address 0x20: no device answers: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "I2C-fault")
	if _, err := Open(&i2cfault.Bus{}, MCP23017, 0x40); err == nil || !strings.Contains(err.Error(), "0x40") {
		t.Errorf("address 0x40: %v", err)
	}
	if _, err := Open(&i2cfault.Bus{}, "MCP23016", 0x20); err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("MCP23016: %v", err)
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	c := NewChip(MCP23017, 0x20)
	fb := &i2cfault.Bus{Inner: c, After: 4} // open (2), IODIRA, OLATA read
	d, err := Open(fb, MCP23017, 0x20)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Pin(3).Out(gpio.High)
	if !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `mcp23017 on i2c bus "fake-I2C" at address 0x20: pin GPA3: output High: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, "fake-I2C")
	if d.Pin(3).Read() != gpio.Low || !errors.Is(d.Err(), i2cfault.ErrNACK) {
		t.Errorf("failed read: Err = %v", d.Err())
	}
	checkBusError(t, d.Err(), "fake-I2C")
}

// checkBusError checks that err is a *bus.Error naming an MCP23017,
// busName and address 0x20.
func checkBusError(t *testing.T, err error, busName string) {
	t.Helper()
	var be *bus.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *bus.Error", err, err)
	}
	if be.Chip != "mcp23017" || be.Kind != bus.I2C || be.Bus != busName || !be.HasAddr || be.Addr != 0x20 {
		t.Errorf("bus.Error = %+v, want chip mcp23017 on i2c bus %q at address 0x20", *be, busName)
	}
}

func TestPinErrors(t *testing.T) {
	d := Fake(MCP23008)
	defer d.Close()
	p := d.Pin(1)
	if err := p.In(gpio.PullDown, gpio.NoEdge); err == nil || !strings.Contains(err.Error(), "GP1") {
		t.Errorf("pull-down: %v", err)
	}
	if p.WaitForEdge(0) {
		t.Error("WaitForEdge without an edge set up returned true")
	}
	if err := p.PWM(gpio.DutyHalf, 0); err == nil {
		t.Error("PWM accepted")
	}
	defer func() {
		if recover() == nil {
			t.Error("Pin(8) of an MCP23008 did not panic")
		}
	}()
	d.Pin(8)
}

func TestFake(t *testing.T) {
	d := Fake(MCP23017)
	defer d.Close()
	must(t, d.Pin(0).Out(gpio.High))
	must(t, d.Pin(15).Out(gpio.High))
	must(t, d.Pin(15).Out(gpio.Low))
	if !d.Chip.IsOutput(0) || d.Chip.Level(0) != gpio.High || d.Chip.Level(15) != gpio.Low || d.Chip.IsOutput(1) {
		t.Errorf("outputs: IODIRA %08b OLATA %08b", d.Chip.Reg(0), d.Chip.Reg(0x14))
	}
	must(t, d.Pin(9).In(gpio.PullUp, gpio.NoEdge))
	if d.Pin(9).Read() != gpio.High {
		t.Error("GPB1 with pull-up reads low")
	}
	d.Chip.Drive(9, gpio.Low)
	if d.Pin(9).Read() != gpio.Low {
		t.Error("GPB1 driven low reads high")
	}
	d.Chip.Release(9)
	must(t, d.Halt())
	if d.Chip.IsOutput(0) || d.Chip.IsOutput(15) {
		t.Error("Halt left outputs")
	}
	// GPA0 was latched high before it became an output: no glitch low.
	if w := d.Chip.Writes(); len(w) < 2 || w[0] != (RegWrite{0x14, 0x01}) || w[1] != (RegWrite{0x00, 0xFE}) {
		t.Errorf("writes: %v", w)
	}
}

// Edges are detected by polling: a WaitForEdge with timeout 0 reads once.
func TestEdges(t *testing.T) {
	d := Fake(MCP23017)
	defer d.Close()
	p := d.Pin(12)
	must(t, p.In(gpio.PullUp, gpio.RisingEdge))
	if p.WaitForEdge(0) {
		t.Error("an edge without a change")
	}
	d.Chip.Drive(12, gpio.Low)
	if p.WaitForEdge(0) {
		t.Error("a falling edge reported for RisingEdge")
	}
	d.Chip.Release(12)
	if !p.WaitForEdge(time.Second) {
		t.Error("no rising edge")
	}
	d.SetPollInterval(time.Millisecond)
	if p.WaitForEdge(3 * time.Millisecond) {
		t.Error("an edge without a change, with a timeout")
	}
}

func TestClose(t *testing.T) {
	d := Fake(MCP23008)
	name := d.Pin(0).Name()
	if gpioreg.ByName(name) == nil {
		t.Fatalf("%s not registered by periph", name)
	}
	must(t, d.Close())
	if gpioreg.ByName(name) != nil {
		t.Errorf("%s still registered after Close", name)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
