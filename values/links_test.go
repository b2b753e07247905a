package values_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// noMore fails if an error beyond those expected was reported.
func noMore(t *testing.T, errs chan error) {
	t.Helper()
	select {
	case err := <-errs:
		t.Fatalf("reported again: %v", err)
	default:
	}
}

func TestLinkToAMissingSourceIsReportedOnceReady(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 100)
	h.Bus("sensors", nil)
	h.Bus("fan", errs)
	must(t, h.Setup("fan", func(ctx context.Context, b *ipc.Bus) error {
		temp := values.NewNumber(b, "fan_controller.temp", "Temperature")
		if err := temp.Err(); err != nil {
			return err
		}
		_, err := temp.Link("cpu_lod", nil) // a typo: "cpu_load" exists
		return err
	}))
	must(t, h.Setup("sensors", func(ctx context.Context, b *ipc.Bus) error {
		return values.NewNumber(b, "cpu_load", "CPU", values.Output()).Err()
	}))
	select {
	case err := <-errs:
		t.Fatalf("reported before the application is ready: %v", err)
	default:
	}
	h.Start()
	err := testbus.Wait(t, errs, "the report of the missing source")
	var le *values.LinkError
	if !errors.As(err, &le) || le.Value != "fan_controller.temp" || le.Source != "cpu_lod" || !errors.Is(err, ipc.ErrUnknownID) ||
		err.Error() != "values: link fan_controller.temp <- cpu_lod: no module owns cpu_lod" {
		t.Fatalf("reported %v", err)
	}
	noMore(t, errs)
}

func TestLinkToASourceOfAnotherTypeIsReportedOnce(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 100)
	h.Bus("sensors", nil)
	h.Bus("fan", errs)
	var mode *values.String
	must(t, h.Setup("sensors", func(ctx context.Context, b *ipc.Bus) (err error) {
		mode = values.NewString(b, "sensors.mode", "Mode", values.Output())
		return mode.Err()
	}))
	seen := make(chan struct{}, 100)
	must(t, h.Setup("fan", func(ctx context.Context, b *ipc.Bus) error {
		speed := values.NewNumber(b, "fan.speed", "Speed")
		if err := speed.Err(); err != nil {
			return err
		}
		if _, err := speed.Link("sensors.mode", nil); err != nil {
			return err
		}
		// Subscribed after the link: sees each event after the link did.
		_, err := b.Subscribe("sensors.mode", func(ipc.Event) { seen <- struct{}{} })
		return err
	}))
	// The source's type is known when the link is made: reported then,
	// before the application is ready.
	err := testbus.Wait(t, errs, "the report of the mismatch")
	if !errors.Is(err, ipc.ErrWrongType) ||
		err.Error() != `values: link fan.speed <- sensors.mode: sensors.mode is a string value (module "sensors"), fan.speed a number value` {
		t.Fatalf("reported %v", err)
	}
	h.Start()
	// Updates of the wrong type are not reported again.
	for i := range 5 {
		must(t, mode.Set(fmt.Sprint("mode ", i)))
		testbus.Wait(t, seen, "an update")
	}
	noMore(t, errs)
}

func TestLinkFuncReportsAWrongTypeOnce(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 100)
	src := h.Bus("sensors", nil)
	dst := h.Bus("fan", errs)
	mode := values.NewString(src, "sensors.mode", "Mode", values.Output())
	must(t, mode.Err())
	level := values.NewNumber(dst, "fan.level", "Level")
	must(t, level.Err())
	h.Run()
	seen := make(chan struct{}, 100)
	_, err := level.LinkFunc("sensors.mode", func(v ipc.Value) (float64, error) {
		switch v.Text() {
		case "low":
			return 1, nil
		case "high":
			return 3, nil
		}
		return 0, ipc.Errorf(ipc.CodeWrongType, "%v is not a level", v)
	})
	must(t, err)
	_, err = dst.Subscribe("sensors.mode", func(ipc.Event) { seen <- struct{}{} })
	must(t, err)
	for _, s := range []string{"low", "turbo", "eco", "high", "off"} {
		must(t, mode.Set(s))
		testbus.Wait(t, seen, "an update")
	}
	err = testbus.Wait(t, errs, "the report of the refused update")
	if !errors.Is(err, ipc.ErrWrongType) || err.Error() != `values: link fan.level <- sensors.mode: update "turbo" refused: "turbo" is not a level` {
		t.Fatalf("reported %v", err)
	}
	noMore(t, errs)
	if level.Value() != 3 {
		t.Fatalf("level %v", level.Value())
	}
}

func TestLinkToAnAction(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 100)
	a := h.Bus("sensors", nil)
	b := h.Bus("fan", errs)
	must(t, a.RegisterAction(ipc.Description{ID: "sensors.reset"}, func(context.Context, ipc.Args) (any, error) { return nil, nil }))
	h.Run()
	speed := values.NewNumber(b, "fan.speed", "Speed")
	must(t, speed.Err())
	_, err := speed.Link("sensors.reset", nil)
	must(t, err)
	err = testbus.Wait(t, errs, "the report")
	if err.Error() != `values: link fan.speed <- sensors.reset: sensors.reset is not a value: module "sensors" owns it as an action` {
		t.Fatalf("reported %v", err)
	}
	// Made once the application is ready, a link to an unknown id is
	// reported at once.
	_, err = speed.Link("nowhere", nil)
	must(t, err)
	if err := testbus.Wait(t, errs, "the report"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("reported %v", err)
	}
}
