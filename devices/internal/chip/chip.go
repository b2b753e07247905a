// Package chip holds what the chip driver packages under devices share:
// error text naming the bus and address, reads that honour a context, and
// the simulated readings of their fakes.
package chip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/sensors"
)

// Errorf returns a *bus.Error that names the chip, its I²C bus and its
// address: bme280 on i2c bus "I2C1" at address 0x76: .... A %w verb in
// format wraps as fmt.Errorf does.
func Errorf(chipName string, b fmt.Stringer, addr uint16, format string, args ...any) error {
	return &bus.Error{Chip: chipName, Kind: bus.I2C, Bus: bus.Name(b), Addr: uint64(addr), HasAddr: true,
		Err: fmt.Errorf(format, args...)}
}

// ErrBusy is returned by Runner.Do when the context ends while an earlier
// read of the same device is still running on the bus.
var ErrBusy = errors.New("an earlier read is still running")

// Runner runs the blocking bus transactions of one device, one at a time,
// and lets its caller return when a context ends: the transaction then
// finishes in the background, and the next Do waits for it. The zero
// Runner is ready to use; a Runner must not be copied after first use.
type Runner struct {
	once sync.Once
	busy chan struct{}
}

// Do runs fn and returns its error, or ctx's error if ctx ends first.
// fn must only write to memory that its caller reads after Do returned
// nil.
func (r *Runner) Do(ctx context.Context, fn func() error) error {
	r.once.Do(func() { r.busy = make(chan struct{}, 1) })
	select {
	case r.busy <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	if err := ctx.Err(); err != nil {
		<-r.busy
		return err
	}
	done := make(chan error, 1)
	go func() {
		err := fn()
		<-r.busy
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Range is the span of a simulated dimension.
type Range struct{ Lo, Hi float64 }

// Waves returns a fake driver described by desc whose dimension i follows
// a slow sine wave within ranges[i], each a fraction of a period behind
// the one before; it is the simulated device of the chip packages. It
// panics if ranges does not have one entry per dimension or period is not
// positive.
func Waves(desc sensors.Description, period time.Duration, ranges ...Range) *fake.Driver {
	n := desc.Len()
	if len(ranges) != n {
		panic(fmt.Sprintf("chip: Waves: %d ranges for %d dimensions", len(ranges), n))
	}
	if period <= 0 {
		panic(fmt.Sprintf("chip: Waves: period %v is not positive", period))
	}
	rs := append([]Range(nil), ranges...)
	return fake.Func(desc, func(t time.Time) []float64 {
		phase := float64(t.UnixNano()%int64(period)) / float64(period)
		r := make([]float64, n)
		for i, rg := range rs {
			a := 2 * math.Pi * (phase - float64(i)/float64(n))
			r[i] = min(max(rg.Lo+(rg.Hi-rg.Lo)*(1+math.Sin(a))/2, rg.Lo), rg.Hi)
		}
		return r
	})
}

// Bounds returns pointers to lo and hi, for the Min and Max of a
// sensors.Description or Dimension.
func Bounds(lo, hi float64) (*float64, *float64) { return &lo, &hi }
