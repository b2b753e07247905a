package fake_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/sensors"
)

func read(t *testing.T, d *fake.Driver, n int) []float64 {
	t.Helper()
	dst := make([]float64, n)
	if err := d.Read(context.Background(), dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPlayback(t *testing.T) {
	d := fake.New(sensors.Description{Dimensions: sensors.Labels("a", "b")}, []float64{1, 2}, []float64{3, 4})
	for _, want := range [][]float64{{1, 2}, {3, 4}, {3, 4}, {3, 4}} {
		if got := read(t, d, 2); !slices.Equal(got, want) {
			t.Fatalf("read %v, want %v", got, want)
		}
	}
	d.Set(5, 6)
	if got := read(t, d, 2); !slices.Equal(got, []float64{5, 6}) {
		t.Fatalf("after Set: %v", got)
	}
	if err := d.Read(context.Background(), make([]float64, 3)); err == nil || !strings.Contains(err.Error(), "want 3") {
		t.Fatalf("reading of the wrong size: %v", err)
	}
	if n := d.Reads(); n != 6 {
		t.Fatalf("Reads = %d, want 6", n)
	}
}

func TestReadingsAreCopied(t *testing.T) {
	r := []float64{1}
	d := fake.New(sensors.Description{}, r)
	r[0] = 2
	if got := read(t, d, 1); got[0] != 1 {
		t.Fatalf("New kept the caller's slice: %v", got)
	}
	desc := sensors.Description{Dimensions: sensors.Labels("x")}
	d = fake.New(desc)
	desc.Dimensions[0].Label = "y"
	d.Describe().Dimensions[0].Label = "z"
	if l := d.Describe().Dimensions[0].Label; l != "x" {
		t.Fatalf("label %q, want x", l)
	}
}

func TestNoReading(t *testing.T) {
	d := fake.New(sensors.Description{})
	if err := d.Read(context.Background(), make([]float64, 1)); !errors.Is(err, fake.ErrNoReading) {
		t.Fatalf("Read without readings: %v", err)
	}
}

func TestFail(t *testing.T) {
	d := fake.New(sensors.Description{}, []float64{1}, []float64{2})
	boom := errors.New("boom")
	d.Fail(boom)
	if err := d.Read(context.Background(), make([]float64, 1)); !errors.Is(err, boom) {
		t.Fatalf("Read = %v, want boom", err)
	}
	d.Fail(nil)
	if got := read(t, d, 1); got[0] != 1 {
		t.Fatalf("a failed read advanced the script: %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Read(ctx, make([]float64, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with an ended context: %v", err)
	}
	if n := d.Reads(); n != 3 {
		t.Fatalf("Reads = %d, want 3", n)
	}
}

func TestFunc(t *testing.T) {
	var got time.Time
	d := fake.Func(sensors.Description{}, func(t time.Time) []float64 {
		got = t
		return []float64{float64(t.Unix())}
	})
	before := time.Now()
	r := read(t, d, 1)
	if got.Before(before) || r[0] != float64(got.Unix()) {
		t.Fatalf("read %v at %v", r, got)
	}
	d.Set(7) // replaces the function
	if r := read(t, d, 1); r[0] != 7 {
		t.Fatalf("after Set: %v", r)
	}
}

func TestSine(t *testing.T) {
	const lo, hi = -2.0, 3.0
	d := fake.Sine(sensors.Description{Dimensions: sensors.Labels("a", "b", "c")}, time.Second, lo, hi)
	for range 100 {
		r := read(t, d, 3)
		for _, x := range r {
			if x < lo || x > hi || math.IsNaN(x) {
				t.Fatalf("reading %v outside [%g, %g]", r, lo, hi)
			}
		}
		if r[0] == r[1] && r[1] == r[2] {
			t.Fatalf("dimensions in phase: %v", r)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Sine with a zero period did not panic")
		}
	}()
	fake.Sine(sensors.Description{}, 0, 0, 1)
}

func TestWaitReads(t *testing.T) {
	d := fake.New(sensors.Description{}, []float64{1})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := d.WaitReads(ctx, 3)
		done <- err
	}()
	for range 3 {
		read(t, d, 1)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("WaitReads did not return after the third read")
	}
	if n, err := d.WaitReads(ctx, 2); n != 3 || err != nil {
		t.Fatalf("WaitReads of a past read = %d, %v", n, err)
	}
	cctx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if n, err := d.WaitReads(cctx, 4); n != 3 || !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitReads with an ended context = %d, %v", n, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	d := fake.New(sensors.Description{Dimensions: sensors.Labels("a", "b")}, []float64{1, 2})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			dst := make([]float64, 2)
			for j := range 100 {
				switch (i + j) % 4 {
				case 0:
					d.Set(float64(j), float64(j))
				case 1:
					d.Fail(nil)
				}
				if err := d.Read(context.Background(), dst); err != nil {
					t.Error(err)
					return
				}
				_ = d.Reads()
			}
		})
	}
	if _, err := d.WaitReads(t.Context(), 400); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
