package fake_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/devices/fake"
)

var (
	_ actuators.NumberDriver = fake.NewActuator()
	_ actuators.BoolDriver   = fake.NewActuator()
)

func TestActuator(t *testing.T) {
	a := fake.NewActuator()
	ctx := context.Background()
	if _, ok := a.Last(); ok {
		t.Fatal("a last write before any")
	}
	go func() {
		a.WriteBool(ctx, true)
		a.WriteNumber(ctx, 42)
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	w, err := a.WaitWrites(wctx, 2)
	if err != nil || !slices.Equal(w, []float64{1, 42}) {
		t.Fatalf("writes %v, %v", w, err)
	}
	errJam := errors.New("servo jammed")
	a.Fail(errJam)
	if err := a.WriteNumber(ctx, 7); !errors.Is(err, errJam) {
		t.Fatalf("failed write: %v", err)
	}
	a.Fail(nil)
	a.WriteBool(ctx, false)
	if last, ok := a.Last(); !ok || last != 0 || len(a.Writes()) != 3 {
		t.Fatalf("last %v, writes %v", last, a.Writes())
	}
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := a.WaitWrites(cctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitWrites after cancel: %v", err)
	}
	if err := a.WriteNumber(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with an ended context: %v", err)
	}
}
