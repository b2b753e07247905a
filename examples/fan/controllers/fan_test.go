package controllers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/system"
	"github.com/kervi/kervi-go/examples/fan/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

func TestSpeed(t *testing.T) {
	for _, c := range []struct{ temp, speed float64 }{
		{0, 0}, {20, 0}, {40, 50}, {80, 100}, {150, 100},
	} {
		if got := controllers.Speed(c.temp); got != c.speed {
			t.Errorf("Speed(%v) = %v, want %v", c.temp, got, c.speed)
		}
	}
}

// TestFanFollowsLoad runs the fan controller module in process with a fake
// cpu_load sensor, as a user would test their own controller.
func TestFanFollowsLoad(t *testing.T) {
	load := fake.New(system.NewCPULoad().Describe(), []float64{10})
	fakeSensors := kervi.Module{Name: "sensors", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		sensors.New(bus, "cpu_load", "CPU", load, sensors.Interval(5*time.Millisecond))
		return nil
	}}
	app, err := kervi.NewApplication([]kervi.Module{fakeSensors, controllers.Module},
		kervi.InProcess(),
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		kervi.WithAppMain(func(ctx context.Context) error {
			_, err := actions.Call(ctx, "fan_controller.activate", true)
			return err
		}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-app.Ready()

	speeds := make(chan float64, 1000)
	app.Bus().Subscribe("fan_controller.fan_speed", func(ev ipc.Event) { speeds <- ev.Value.Number() })
	expect := func(want float64) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case v := <-speeds:
				if v == want {
					return
				}
			case <-deadline:
				t.Fatalf("fan speed never reached %v", want)
			}
		}
	}
	expect(0) // 10 % load: the fan stands still
	load.Set(60)
	expect(75)
	load.Set(100)
	expect(100)
	// The limit nobody links: set by a user (a dashboard's slider), checked
	// against its range.
	if err := app.Bus().Set(ctx, "fan_controller.max_speed", 60); err != nil {
		t.Fatal(err)
	}
	expect(60)
	if err := app.Bus().Set(ctx, "fan_controller.max_speed", 120); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("max_speed 120: %v, want ErrOutOfRange", err)
	}
	if active, err := ipc.Get[bool](app.Context(), "fan_controller.active"); err != nil || !active {
		t.Fatalf("active = %v, %v; want true", active, err)
	}
	if _, err := app.Bus().Call(ctx, "fan_controller.activate", false); err != nil {
		t.Fatal(err)
	}
	expect(0)
	if active, err := ipc.Get[bool](app.Context(), "fan_controller.active"); err != nil || active {
		t.Fatalf("active = %v, %v; want false", active, err)
	}
}
