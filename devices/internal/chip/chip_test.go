package chip_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	kbus "github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

type bus string

func (b bus) String() string { return string(b) }

func TestErrorf(t *testing.T) {
	inner := errors.New("nack")
	err := chip.Errorf("bme280", bus("I2C1"), 0x76, "read: %w", inner)
	var be *kbus.Error
	if err.Error() != `bme280 on i2c bus "I2C1" at address 0x76: read: nack` || !errors.Is(err, inner) || !errors.As(err, &be) || be.Addr != 0x76 {
		t.Errorf("Errorf = %q", err)
	}
}

func TestRunnerContext(t *testing.T) {
	var r chip.Runner
	release := make(chan struct{})
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- r.Do(ctx, func() error {
			close(started)
			<-release // a transaction that hangs
			return nil
		})
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do whose context ended: %v, want context.Canceled", err)
	}
	// The next Do waits for the hanging one; if its context ends first, it
	// says why.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	ran := false
	err := r.Do(ctx2, func() error { ran = true; return nil })
	if !errors.Is(err, chip.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) || ran {
		t.Fatalf("Do while another runs: %v (ran %v), want ErrBusy and the deadline", err, ran)
	}
	close(release)
	if err := r.Do(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Do after the hanging one finished: %v, ran %v", err, ran)
	}
	want := errors.New("boom")
	if err := r.Do(context.Background(), func() error { return want }); err != want {
		t.Errorf("Do returns %v, want fn's error", err)
	}
}

func TestWaves(t *testing.T) {
	d := chip.Waves(sensors.Description{Dimensions: sensors.Labels("a", "b")}, time.Second, chip.Range{Lo: 1, Hi: 2}, chip.Range{Lo: -5, Hi: -4})
	dst := make([]float64, 2)
	for range 50 {
		if err := d.Read(context.Background(), dst); err != nil {
			t.Fatal(err)
		}
		if dst[0] < 1 || dst[0] > 2 || dst[1] < -5 || dst[1] > -4 {
			t.Fatalf("reading %v outside its ranges", dst)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "2 dimensions") {
			t.Errorf("Waves with too few ranges: panic %v", r)
		}
	}()
	chip.Waves(sensors.Description{Dimensions: sensors.Labels("a", "b")}, time.Second, chip.Range{})
}
