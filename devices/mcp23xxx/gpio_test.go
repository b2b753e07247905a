package mcp23xxx

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

// The expander's pins as devices/gpio values: a button input driven by
// (polled) edges and a relay output driven from another module.
func TestGPIOValues(t *testing.T) {
	d := Fake(MCP23017)
	defer d.Close()
	d.SetPollInterval(time.Millisecond)
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		kgpio.NewInput(bus, "button", "Button", d.Pin(15), kgpio.Pull(gpio.PullUp), kgpio.ActiveLow())
		kgpio.NewOutput(bus, "relay", "Relay", d.Pin(0), actuators.Safe(false))
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
	d.Chip.Drive(15, gpio.Low)
	waitBool(ctx, t, pressed, true)
	d.Chip.Drive(15, gpio.High)
	waitBool(ctx, t, pressed, false)

	if err := ui.Set(ctx, "relay", true); err != nil {
		t.Fatal(err)
	}
	for {
		ch := d.Chip.Changed()
		if d.Chip.Level(0) == gpio.High {
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
	if d.Chip.Level(0) != gpio.Low {
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
