package pca9685

import (
	"context"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

var (
	_ actuators.NumberDriver = (*Channel)(nil)
	_ actuators.BoolDriver   = (*Channel)(nil)
	_ actuators.NumberDriver = (*Servo)(nil)
)

// A servo as an actuator: the safe state at start, a write from another
// module, the safe state again when the module stops.
func TestServoActuator(t *testing.T) {
	d := Fake()
	s, err := d.Servo(3)
	if err != nil {
		t.Fatal(err)
	}
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		actuators.NewNumber(bus, "arm", "Arm", s, actuators.Safe(90.0),
			actuators.Values(values.Unit("°"), values.Range(0, 180)))
		actuators.NewNumber(bus, "led", "LED", d.Channel(0), actuators.Safe(0.0),
			actuators.Values(values.Unit("%"), values.Range(0, 100)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ui, err := h.Module("ui", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, h.Start(ctx))
	step := d.Period() / 4096
	near := func(want time.Duration) func() bool {
		return func() bool { return (d.Chip.Pulse(3) - want).Abs() <= step }
	}
	waitChip(ctx, t, d.Chip, near(1500*time.Microsecond), "servo at its safe 90°")
	must(t, ui.Set(ctx, "arm", 0))
	must(t, ui.Set(ctx, "led", 50))
	waitChip(ctx, t, d.Chip, near(500*time.Microsecond), "servo at 0°")
	waitChip(ctx, t, d.Chip, func() bool { return d.Chip.Duty(0) == 50 }, "LED at 50 %")
	must(t, h.Stop("hw"))
	if !near(1500*time.Microsecond)() || d.Chip.Duty(0) != 0 {
		t.Errorf("after stop: servo pulse %s, LED %g %%", d.Chip.Pulse(3), d.Chip.Duty(0))
	}
}

func waitChip(ctx context.Context, t *testing.T, c *Chip, ok func() bool, what string) {
	t.Helper()
	for {
		ch := c.Changed()
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}
