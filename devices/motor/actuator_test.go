package motor

import (
	"context"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

var _ actuators.NumberDriver = (*DC)(nil)

// A motor as an actuator: a slider's write drives it, and it coasts when
// its module stops.
func TestMotorActuator(t *testing.T) {
	m := Fake(AdafruitM4)
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		actuators.NewNumber(bus, "wheel", "Wheel", m, actuators.Safe(0.0),
			actuators.Values(values.Unit("%"), values.Range(-100, 100)))
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
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ui.Set(ctx, "wheel", -100); err != nil {
		t.Fatal(err)
	}
	for {
		ch := m.PCA.Chip.Changed()
		if m.Bridge().Speed == -100 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("bridge %+v, want speed -100", m.Bridge())
		}
	}
	if err := h.Stop("hw"); err != nil {
		t.Fatal(err)
	}
	if b := m.Bridge(); b != (Bridge{}) {
		t.Errorf("after stop: %+v, want coasting", b)
	}
	if s := m.Speeds(); len(s) == 0 || s[len(s)-1] != 0 {
		t.Errorf("speeds %v, want the last 0", s)
	}
}
