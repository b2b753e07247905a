package ipctest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// wait returns the next value from ch, failing the test after 10 seconds.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// Two modules on one hub: a link across them, a call, a stop that runs the
// stop hooks, and a crash after which the module's value comes back.
func TestModulesOnOneHub(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sensorSetup := func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "room.temp", "Room", values.Input(), values.Unit("°C"))
		return nil
	}
	stopped := make(chan string, 1)
	if _, err := h.Module("sensors", sensorSetup); err != nil {
		t.Fatal(err)
	}
	seen := make(chan float64, 10)
	_, err := h.Module("control", func(ctx context.Context, bus *ipc.Bus) error {
		in := values.NewNumber(bus, "control.temp", "Temp", values.Input())
		in.Link("room.temp", nil)
		in.OnChange(func(_ context.Context, v float64) { seen <- v })
		actions.Register(bus, "control.double", func(x float64) float64 { return 2 * x })
		bus.OnStop(func(context.Context) error { stopped <- "control"; return nil })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sensors := h.Bus("sensors")
	if err := sensors.Set(ctx, "room.temp", 21.5); err != nil {
		t.Fatal(err)
	}
	if v := wait(t, seen, "the linked value"); v != 21.5 {
		t.Fatalf("linked value %v, want 21.5", v)
	}
	if got, err := actions.CallAs[float64](ipc.NewContext(ctx, sensors), "control.double", 4); err != nil || got != 8 {
		t.Fatalf("call: %v, %v", got, err)
	}

	// A crash: calls fail as the owner is gone; set up again, the value
	// has its content back.
	if err := h.Crash("sensors"); err != nil {
		t.Fatal(err)
	}
	bus, err := h.Module("sensors", sensorSetup)
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := bus.Restored("room.temp"); !ok || ev.Value.Number() != 21.5 {
		t.Fatalf("restored %v, %v; want 21.5", ev, ok)
	}

	if err := h.Stop("control"); err != nil {
		t.Fatal(err)
	}
	wait(t, stopped, "the stop hook")
	if h.Bus("control") != nil {
		t.Fatal("a stopped module still has a bus")
	}
}

// A setup's error, including one recorded by a constructor, is Module's.
func TestSetupError(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "soil.target", "Target") // announced, then the setup fails
		values.NewNumber(bus, "bad id", "Bad")
		return nil
	})
	if !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("setup error %v, want ErrInvalidID", err)
	}
	// The failed module is gone, with what it announced; it can be set
	// up again.
	if h.Bus("m") != nil {
		t.Fatal("a module whose setup failed still has a bus")
	}
	other, err := h.Module("other", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if entries, err := other.Catalogue(ctx); err != nil || len(entries) != 0 {
		t.Fatalf("catalogue after the failed setup: %v, %v", entries, err)
	}
	if _, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "good", "Good")
		return nil
	}); err != nil {
		t.Fatalf("setting the module up again: %v", err)
	}
}

// Two modules that claim one id make Start fail, naming both.
func TestDuplicateID(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	for _, m := range []string{"a", "b"} {
		if _, err := h.Module(m, func(ctx context.Context, bus *ipc.Bus) error {
			values.NewBool(bus, "shared", "Shared")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	err := h.Start(context.Background())
	if !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("start: %v, want ErrDuplicateID", err)
	}
}
