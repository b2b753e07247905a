package pcf8574

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/i2cfault"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestOpenWriteRead(t *testing.T) {
	bus := &i2ctest.Playback{Ops: []i2ctest.IO{
		{Addr: 0x27, R: []byte{0xFF}},    // probe
		{Addr: 0x27, W: []byte{0xFE}},    // P0 low
		{Addr: 0x27, W: []byte{0xFA}},    // P2 low
		{Addr: 0x27, W: []byte{0xFB}},    // P0 high again
		{Addr: 0x27, R: []byte{0x7B}},    // P7 pulled low outside
		{Addr: 0x27, R: []byte{0xFB}},    // P7 released
		{Addr: 0x27, W: []byte{1, 2, 3}}, // WriteBytes
		{Addr: 0x27, W: []byte{0xFF}},    // Halt
	}}
	d, err := Open(bus, 0x27)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Pins()
	if len(p) != 8 || p[3].Name() != "PCF8574_27_P3" || p[3].Number() != 3 {
		t.Fatalf("pins: %v", p)
	}
	must(t, p[0].Out(gpio.Low))
	must(t, p[2].Out(gpio.Low))
	must(t, p[2].Out(gpio.Low)) // no change, no transfer
	must(t, p[0].Out(gpio.High))
	if f := d.Pin(2).Func(); f != gpio.OUT {
		t.Errorf("P2 func = %s, want OUT", f)
	}
	must(t, p[7].In(gpio.PullUp, gpio.NoEdge)) // already high: no transfer
	if l := p[7].Read(); l != gpio.Low {
		t.Errorf("P7 = %v, want Low", l)
	}
	if l := p[7].Read(); l != gpio.High {
		t.Errorf("P7 = %v, want High", l)
	}
	must(t, d.WriteBytes([]byte{1, 2, 3}))
	if d.Latch() != 3 {
		t.Errorf("latch = %#x, want 3", d.Latch())
	}
	must(t, d.Halt())
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNoDevice(t *testing.T) {
	_, err := Open(&i2cfault.Bus{}, 0x27)
	if err == nil || !errors.Is(err, i2cfault.ErrNACK) {
		t.Fatalf("err = %v, want a NACK", err)
	}
	if want := `pcf8574 on i2c bus "I2C-fault" at address 0x27: no device answers: `; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	checkBusError(t, err, 0x27)
	if _, err := Open(&i2cfault.Bus{}, 0x80); err == nil {
		t.Error("address 0x80 accepted")
	}
}

func TestBusErrorMidWrite(t *testing.T) {
	fb := &i2cfault.Bus{After: 2} // probe and one write succeed
	d, err := Open(fb, 0x20)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.Pin(1).Out(gpio.Low))
	err = d.Pin(2).Out(gpio.Low)
	if !errors.Is(err, i2cfault.ErrNACK) || !strings.HasPrefix(err.Error(), `pcf8574 on i2c bus "I2C-fault" at address 0x20: writing 0xf9: `) {
		t.Fatalf("err = %v", err)
	}
	checkBusError(t, err, 0x20)
	if d.Latch() != 0xFD {
		t.Errorf("latch = %#x after a failed write, want 0xfd (unchanged)", d.Latch())
	}
	if d.Pin(1).Read() != gpio.Low || d.Err() == nil {
		t.Errorf("a failed read: Err() = %v", d.Err())
	}
	checkBusError(t, d.Err(), 0x20)
	if err := d.WriteBytes([]byte{1, 2}); !errors.Is(err, i2cfault.ErrNACK) {
		t.Errorf("WriteBytes: %v", err)
	} else {
		checkBusError(t, err, 0x20)
	}
}

// checkBusError checks that err is a *bus.Error naming the chip, the
// fault bus and addr.
func checkBusError(t *testing.T, err error, addr uint16) {
	t.Helper()
	var be *bus.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v (%T), want a *bus.Error", err, err)
	}
	if be.Chip != "pcf8574" || be.Kind != bus.I2C || be.Bus != "I2C-fault" || !be.HasAddr || be.Addr != uint64(addr) {
		t.Errorf("bus.Error = %+v, want chip pcf8574 on i2c bus \"I2C-fault\" at address %#x", *be, addr)
	}
}

func TestPinErrors(t *testing.T) {
	d := Fake()
	p := d.Pin(4)
	if err := p.In(gpio.PullDown, gpio.NoEdge); err == nil || !strings.Contains(err.Error(), "P4") {
		t.Errorf("pull-down: %v", err)
	}
	if err := p.PWM(gpio.DutyHalf, 0); err == nil {
		t.Error("PWM accepted")
	}
	if p.WaitForEdge(0) {
		t.Error("WaitForEdge without an edge set up returned true")
	}
	defer func() {
		if recover() == nil {
			t.Error("Pin(8) did not panic")
		}
	}()
	d.Pin(8)
}

// Edges are detected by polling: a WaitForEdge with timeout 0 reads once.
func TestEdges(t *testing.T) {
	d := Fake()
	p := d.Pin(6)
	must(t, p.In(gpio.PullUp, gpio.FallingEdge))
	if p.WaitForEdge(0) {
		t.Error("an edge without a change")
	}
	d.Chip.Drive(6, gpio.Low)
	if !p.WaitForEdge(0) {
		t.Error("no falling edge")
	}
	if p.WaitForEdge(0) {
		t.Error("the falling edge reported twice")
	}
	d.Chip.Drive(6, gpio.High)
	if p.WaitForEdge(0) {
		t.Error("a rising edge reported for FallingEdge")
	}
	d.Chip.Drive(6, gpio.Low)
	if !p.WaitForEdge(time.Second) {
		t.Error("no second falling edge")
	}
	must(t, p.In(gpio.PullUp, gpio.BothEdges))
	d.Chip.Drive(6, gpio.High)
	d.SetPollInterval(time.Millisecond)
	if !p.WaitForEdge(-1) {
		t.Error("no rising edge with BothEdges")
	}
	if p.WaitForEdge(3 * time.Millisecond) {
		t.Error("an edge without a change, with a timeout")
	}
}

func TestFake(t *testing.T) {
	d := Fake()
	must(t, d.Pin(0).Out(gpio.Low))
	must(t, d.Pin(0).Out(gpio.High))
	must(t, d.Pin(5).SetFunc(gpio.OUT))
	if got := d.Chip.Writes(); string(got) != "\xfe\xff\xdf" {
		t.Errorf("writes = %x", got)
	}
	if d.Chip.Level(5) != gpio.Low || d.Chip.Level(0) != gpio.High {
		t.Error("levels")
	}
	d.Chip.Drive(3, gpio.Low)
	if d.Pin(3).Read() != gpio.Low || d.Err() != nil {
		t.Error("P3 pulled low reads high")
	}
	d.Chip.Drive(3, gpio.High)
	if d.Pin(3).Read() != gpio.High {
		t.Error("P3 released reads low")
	}
	if _, err := Open(d.Chip, 0x21); err == nil {
		t.Error("the fake answered at another address")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
