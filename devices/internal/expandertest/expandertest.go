// Package expandertest checks a GPIO expander's pins as devices/gpio
// values, for the tests of the expander drivers (mcp23xxx, pcf8574).
package expandertest

import (
	"context"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actuators"
	kgpio "github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"periph.io/x/conn/v3/gpio"
)

// Chip is a simulated expander: what drives its pins from outside and
// what it drives.
type Chip interface {
	// Drive pulls pin n to l from outside, as a button does.
	Drive(n int, l gpio.Level)
	// Level returns the level the chip drives on pin n.
	Level(n int) gpio.Level
	// Changed returns a channel closed at the chip's next change.
	Changed() <-chan struct{}
}

// Values checks the pins in (number inN) and out (number outN) of chip as
// devices/gpio values in a module: a button input driven by (polled)
// edges, seen by another module, and a relay output set from another
// module, back to its safe state (low) when its module stops.
func Values(t *testing.T, chip Chip, in gpio.PinIO, inN int, out gpio.PinIO, outN int) {
	t.Helper()
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		kgpio.NewInput(bus, "button", "Button", in, kgpio.Pull(gpio.PullUp), kgpio.ActiveLow())
		kgpio.NewOutput(bus, "relay", "Relay", out, actuators.Safe(false))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ui, err := h.Module("ui", nil)
	if err != nil {
		t.Fatal(err)
	}
	pressed := make(chan bool, 10)
	if _, err := ui.Subscribe("button", func(ev ipc.Event) { pressed <- ev.Value.Bool() }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	chip.Drive(inN, gpio.Low)
	waitBool(ctx, t, pressed, true)
	chip.Drive(inN, gpio.High)
	waitBool(ctx, t, pressed, false)

	if err := ui.Set(ctx, "relay", true); err != nil {
		t.Fatal(err)
	}
	for {
		ch := chip.Changed()
		if chip.Level(outN) == gpio.High {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatal("relay pin not driven high")
		}
	}
	if err := h.Stop("hw"); err != nil {
		t.Fatal(err)
	}
	if chip.Level(outN) != gpio.Low {
		t.Error("relay pin not back to its safe state (low) after stop")
	}
}

func waitBool(ctx context.Context, t *testing.T, ch <-chan bool, want bool) {
	t.Helper()
	for {
		select {
		case v := <-ch:
			if v == want {
				return
			}
		case <-ctx.Done():
			t.Fatalf("value never became %v", want)
		}
	}
}
