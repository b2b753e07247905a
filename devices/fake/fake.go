// Package fake provides a programmable sensor driver for tests, demos and
// the fake devices of chip packages: it plays back scripted readings,
// computes them from the time (Sine, Step, Replay of a recorded series) or
// from a seeded random walk (RandomWalk), or fails on command, and counts
// its reads so that tests can wait for them. Its clock can be replaced
// (SetClock), so that tests of time-driven readings need no sleeps.
package fake

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kervi/kervi-go/sensors"
)

// ErrNoReading is returned by Read when the driver has no reading to give.
var ErrNoReading = errors.New("fake: no reading")

// Driver is a programmable sensors.Driver. Its methods are safe for
// concurrent use.
type Driver struct {
	desc sensors.Description

	mu       sync.Mutex
	readings [][]float64               // playback script; the last repeats
	pos      int                       // index of the next reading
	fn       func(time.Time) []float64 // computes readings, if not nil
	err      error                     // makes reads fail, if not nil
	reads    int                       // Read calls
	changed  chan struct{}             // closed and replaced at each read
	now      func() time.Time          // the clock
}

var _ sensors.Driver = (*Driver)(nil)

// New returns a driver described by desc that plays back readings in order,
// then repeats the last one. Each reading needs one number per dimension of
// desc. Without readings, reads fail with ErrNoReading until Set.
func New(desc sensors.Description, readings ...[]float64) *Driver {
	d := newDriver(desc)
	for _, r := range readings {
		d.readings = append(d.readings, append([]float64(nil), r...))
	}
	return d
}

// Func returns a driver described by desc whose reading is fn(time of the
// read). fn runs on the reading goroutine, without the driver's lock held.
func Func(desc sensors.Description, fn func(t time.Time) []float64) *Driver {
	d := newDriver(desc)
	d.fn = fn
	return d
}

// Sine returns a driver whose dimensions follow sine waves between lo and
// hi with the given period, each a fraction of a period behind the one
// before it, as a demo signal. It panics if period is not positive.
func Sine(desc sensors.Description, period time.Duration, lo, hi float64) *Driver {
	if period <= 0 {
		panic(fmt.Sprintf("fake: Sine: period %v is not positive", period))
	}
	n := desc.Len()
	return Func(desc, func(t time.Time) []float64 {
		phase := float64(t.UnixNano()%int64(period)) / float64(period)
		r := make([]float64, n)
		for i := range r {
			a := 2 * math.Pi * (phase - float64(i)/float64(n))
			r[i] = min(max(lo+(hi-lo)*(1+math.Sin(a))/2, lo), hi)
		}
		return r
	})
}

func newDriver(desc sensors.Description) *Driver {
	return &Driver{desc: desc.Clone(), changed: make(chan struct{}), now: time.Now}
}

// Describe returns (a copy of) the description the driver was created
// with.
func (d *Driver) Describe() sensors.Description { return d.desc.Clone() }

// Read counts the call, then fills dst with the next reading, or fails
// with the error given to Fail, ctx's error if ctx has ended,
// ErrNoReading, or an error if the reading does not have len(dst)
// numbers.
func (d *Driver) Read(ctx context.Context, dst []float64) error {
	d.mu.Lock()
	d.reads++
	close(d.changed)
	d.changed = make(chan struct{})
	err, fn, now := d.err, d.fn, d.now
	var r []float64
	if err == nil && fn == nil && len(d.readings) > 0 {
		r = d.readings[d.pos]
		if d.pos < len(d.readings)-1 {
			d.pos++
		}
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fn != nil {
		r = fn(now())
	}
	if r == nil {
		return ErrNoReading
	}
	if len(r) != len(dst) {
		return fmt.Errorf("fake: reading %v has %d numbers, want %d", r, len(r), len(dst))
	}
	copy(dst, r)
	return nil
}

// SetClock makes the driver read the time from now instead of time.Now,
// for the readings computed from the time (Func, Sine, Step, Replay); tests
// pass a fake clock. It returns d.
func (d *Driver) SetClock(now func() time.Time) *Driver {
	d.mu.Lock()
	d.now = now
	d.mu.Unlock()
	return d
}

// Set makes reading the driver's reading from now on, replacing the rest
// of the playback script and any function the driver was created with.
func (d *Driver) Set(reading ...float64) {
	d.mu.Lock()
	d.readings = [][]float64{append([]float64(nil), reading...)}
	d.pos, d.fn = 0, nil
	d.mu.Unlock()
}

// Fail makes reads fail with err until Fail(nil). Failed reads do not
// advance the playback script.
func (d *Driver) Fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

// Reads returns the number of Read calls so far.
func (d *Driver) Reads() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

// WaitReads waits until Read has been called at least n times in all, and
// returns the number of calls, or ctx's error if ctx ends first. Read
// counts a call when it starts, before it returns.
func (d *Driver) WaitReads(ctx context.Context, n int) (int, error) {
	for {
		d.mu.Lock()
		reads, changed := d.reads, d.changed
		d.mu.Unlock()
		if reads >= n {
			return reads, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return reads, fmt.Errorf("fake: waiting for read %d after %d: %w", n, reads, ctx.Err())
		}
	}
}
