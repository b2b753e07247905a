// Package sensors turns device drivers into published values: a Sensor
// polls its Driver at an interval and publishes each reading on the bus as
// values.Number outputs, which any process of the application can follow by
// id.
//
// # Ids
//
// A sensor with one dimension (a thermometer, a CPU load) publishes one
// value whose id is the sensor's id. A sensor with several dimensions (an
// accelerometer with "x", "y" and "z") publishes one value per dimension,
// with the id "<sensor id>.<label>" and the name "<sensor name> <label>";
// there is no value at the bare sensor id. Every value names the sensor id as
// its parent.
//
// In the application's catalogue (see ipc.Bus.FollowCatalogue), a sensor
// with several dimensions is an entry of kind ipc.KindSensor at its id,
// with its unit and range, and its values are its children. A sensor with
// one dimension is its value: one entry, which names its own id as its
// parent.
//
// # Polling
//
// Polling starts when the module starts (a bus start hook), with a first
// read at once, and stops when the module stops. Each read gets a context that ends after the sensor's
// interval, so a driver that honours its context cannot stall the sensor.
// Reads of one sensor never run concurrently.
//
// # Faults
//
// A read fails when the driver returns an error or panics, leaves a
// dimension without a reading, reports a value that is not finite, or
// reports a value outside the description's Min and Max (an error matching
// ipc.ErrOutOfRange). A failed read publishes nothing and makes the sensor
// faulty until a read succeeds. While faulty, the sensor retries with an
// exponential backoff: the first retry comes after one interval, each next
// one after twice the previous delay, up to MaxBackoff. The first failure,
// and each change of the failure's message, is logged as a warning on the
// bus's logger; the recovery is logged as info.
package sensors

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Driver reads a device. Drivers are called from one goroutine at a time
// per sensor, but a driver shared by several sensors must be safe for
// concurrent use.
type Driver interface {
	// Describe returns what the driver measures. A Sensor calls it once,
	// when it is created.
	Describe() Description
	// Read fills dst with one reading, one number per dimension (len(dst)
	// is Description.Dimensions()). It should return when ctx ends.
	Read(ctx context.Context, dst []float64) error
}

// Description says what a driver measures.
type Description struct {
	// Unit is the unit of every dimension, such as "°C" or "%".
	Unit string
	// Min and Max bound the readings of every dimension; nil means
	// unbounded. A reading outside them is a failed read.
	Min, Max *float64
	// Labels name the dimensions of a sensor with several, such as "x",
	// "y" and "z". Empty means one dimension.
	Labels []string
}

// Dimensions returns the number of numbers in one reading: the number of
// labels, or 1 if there are none.
func (d Description) Dimensions() int { return max(1, len(d.Labels)) }

// Clone returns a copy of d that shares no memory with it.
func (d Description) Clone() Description {
	if d.Min != nil {
		d.Min = new(*d.Min)
	}
	if d.Max != nil {
		d.Max = new(*d.Max)
	}
	d.Labels = append([]string(nil), d.Labels...)
	return d
}

// Option configures a Sensor.
type Option func(*config) error

type config struct {
	interval   time.Duration
	maxBackoff time.Duration
	valueOpts  []values.Option
}

// Default settings.
const (
	DefaultInterval   = time.Second
	DefaultMaxBackoff = time.Minute
)

// Interval sets how often the sensor reads its driver; it must be
// positive. Default: DefaultInterval.
func Interval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("interval %v is not positive", d)
		}
		c.interval = d
		return nil
	}
}

// Delta makes the sensor's values publish a change only when it differs
// from the last published reading by at least d (see values.Delta); d must
// not be negative.
func Delta(d float64) Option {
	return func(c *config) error {
		if !(d >= 0) {
			return fmt.Errorf("delta %g is negative or NaN", d)
		}
		c.valueOpts = append(c.valueOpts, values.Delta(d))
		return nil
	}
}

// MaxBackoff caps the delay between retries of a faulty sensor; it must be
// positive. A cap below the interval is raised to the interval. Default:
// DefaultMaxBackoff.
func MaxBackoff(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("max backoff %v is not positive", d)
		}
		c.maxBackoff = d
		return nil
	}
}

// Sensor polls a Driver and publishes its readings. Its methods are safe
// for concurrent use.
type Sensor struct {
	bus        *ipc.Bus
	id, name   string
	drv        Driver
	desc       Description
	interval   time.Duration
	maxBackoff time.Duration
	vals       []*values.Number
	labels     []string // one per value; "" for a one-dimension sensor

	pollMu sync.Mutex // serialises reads and publishing
	buf    []float64  // under pollMu

	faultMu sync.Mutex
	fault   error
}

// New creates the sensor id, named name, reading drv, and registers its
// values on bus (see the package doc for their ids). It starts polling when
// the module starts, so it belongs in the module's setup: a sensor created
// after the start hooks have run only reads on Poll. The error names the
// sensor; it matches ipc.ErrInvalidID or ipc.ErrDuplicateID when an id is
// invalid or already taken in this process (an id another module owns is
// reported by the hub, see ipc.Bus.RegisterValue).
func New(bus *ipc.Bus, id, name string, drv Driver, opts ...Option) (*Sensor, error) {
	fail := func(format string, args ...any) (*Sensor, error) {
		return nil, fmt.Errorf("sensors: sensor %q: "+format, append([]any{id}, args...)...)
	}
	if bus == nil {
		return fail("nil bus")
	}
	if drv == nil {
		return fail("nil driver")
	}
	if err := ipc.ValidateID(id); err != nil {
		return fail("%w", err)
	}
	c := config{interval: DefaultInterval, maxBackoff: DefaultMaxBackoff}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return fail("%w", err)
		}
	}
	desc := drv.Describe().Clone()
	if desc.Min != nil && desc.Max != nil && *desc.Min > *desc.Max {
		return fail("range [%g, %g] is empty", *desc.Min, *desc.Max)
	}
	if desc.Min != nil && math.IsNaN(*desc.Min) || desc.Max != nil && math.IsNaN(*desc.Max) {
		return fail("range bound is NaN")
	}
	s := &Sensor{
		bus: bus, id: id, name: name, drv: drv, desc: desc,
		interval: c.interval, maxBackoff: max(c.maxBackoff, c.interval),
		buf: make([]float64, desc.Dimensions()),
	}
	// Check every id before registering any: the bus cannot take an id back.
	ids, names := []string{id}, []string{name}
	s.labels = []string{""}
	if len(desc.Labels) > 0 {
		ids, names, s.labels = nil, nil, desc.Labels
		seen := make(map[string]bool)
		for _, l := range desc.Labels {
			if l == "" {
				return fail("empty dimension label")
			}
			if seen[l] {
				return fail("dimension label %q given twice: %w", l, ipc.ErrDuplicateID)
			}
			seen[l] = true
			vid := id + "." + l
			if err := ipc.ValidateID(vid); err != nil {
				return fail("dimension %q: %w", l, err)
			}
			ids, names = append(ids, vid), append(names, name+" "+l)
		}
	}
	vopts := []values.Option{values.Output(), values.Unit(desc.Unit), values.Parent(id)}
	if desc.Min != nil {
		vopts = append(vopts, values.Min(*desc.Min))
	}
	if desc.Max != nil {
		vopts = append(vopts, values.Max(*desc.Max))
	}
	vopts = append(vopts, c.valueOpts...)
	if len(desc.Labels) > 0 { // one dimension: the sensor is its value
		err := bus.Announce(ipc.Description{ID: id, Kind: ipc.KindSensor, Name: name, Unit: desc.Unit, Min: desc.Min, Max: desc.Max})
		if err != nil {
			return fail("%w", err)
		}
	}
	for i, vid := range ids {
		v, err := values.NewNumber(bus, vid, names[i], vopts...)
		if err != nil {
			return fail("%w", err)
		}
		s.vals = append(s.vals, v)
	}
	bus.OnStart(func(context.Context) error {
		bus.Go(s.run)
		return nil
	})
	return s, nil
}

// ID returns the sensor's id.
func (s *Sensor) ID() string { return s.id }

// Name returns the sensor's name.
func (s *Sensor) Name() string { return s.name }

// Interval returns how often the sensor reads its driver while healthy.
func (s *Sensor) Interval() time.Duration { return s.interval }

// Value returns the value of a one-dimension sensor, and nil for a sensor
// with several dimensions (see Dimension).
func (s *Sensor) Value() *values.Number {
	if len(s.desc.Labels) > 0 {
		return nil
	}
	return s.vals[0]
}

// Dimension returns the value of the dimension label, or nil if the sensor
// has no such dimension. The one dimension of a sensor without labels has
// the label "".
func (s *Sensor) Dimension(label string) *values.Number {
	for i, l := range s.labels {
		if l == label {
			return s.vals[i]
		}
	}
	return nil
}

// Values returns the sensor's values, one per dimension, in the order of
// the description's labels.
func (s *Sensor) Values() []*values.Number { return append([]*values.Number(nil), s.vals...) }

// Fault returns the error of the last read if it failed, and nil while the
// sensor is healthy.
func (s *Sensor) Fault() error {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.fault
}

// Faulty reports whether the last read failed.
func (s *Sensor) Faulty() bool { return s.Fault() != nil }

func (s *Sensor) setFault(err error) {
	s.faultMu.Lock()
	s.fault = err
	s.faultMu.Unlock()
}

// Poll reads the driver once and publishes the reading, as the polling
// loop does; use it for readings on demand. The read's context is ctx,
// bounded by the sensor's interval. A failed read makes the sensor faulty
// and a successful one healthy, except that a read cut short because ctx
// ended leaves the sensor's state as it was.
func (s *Sensor) Poll(ctx context.Context) error {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.interval)
	defer cancel()
	err := s.read(rctx)
	if err != nil {
		if ctx.Err() == nil {
			s.setFault(err)
		}
		return err
	}
	s.setFault(nil)
	for i, v := range s.vals {
		if err := v.Set(s.buf[i]); err != nil {
			err = fmt.Errorf("sensors: sensor %q: publish: %w", s.id, err)
			s.setFault(err)
			return err
		}
	}
	return nil
}

// read fills s.buf with a checked reading; s.pollMu is held.
func (s *Sensor) read(ctx context.Context) (err error) {
	for i := range s.buf {
		s.buf[i] = math.NaN() // a dimension the driver leaves alone reads NaN
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sensors: sensor %q: driver panicked: %v", s.id, r)
		}
	}()
	if err := s.drv.Read(ctx, s.buf); err != nil {
		return fmt.Errorf("sensors: sensor %q: read: %w", s.id, err)
	}
	for i, x := range s.buf {
		vid := s.vals[i].ID()
		switch {
		case math.IsNaN(x):
			return fmt.Errorf("sensors: sensor %q: no reading for %q (NaN)", s.id, vid)
		case math.IsInf(x, 0):
			return fmt.Errorf("sensors: sensor %q: reading for %q is %g", s.id, vid, x)
		}
		// Every dimension is checked before any is set, so that a reading
		// is published whole or not at all.
		if err := s.vals[i].Check(x); err != nil {
			return fmt.Errorf("sensors: sensor %q: reading: %w", s.id, err)
		}
	}
	return nil
}

// run is the polling loop; it returns when ctx ends.
func (s *Sensor) run(ctx context.Context) {
	log := s.bus.Logger()
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	lastMsg := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := s.Poll(ctx)
		if ctx.Err() != nil {
			return
		}
		var next time.Duration
		switch {
		case err != nil:
			failures++
			next = backoff(s.interval, s.maxBackoff, failures)
			if msg := err.Error(); failures == 1 || msg != lastMsg {
				lastMsg = msg
				log.Warn("sensor read failed", "sensor", s.id, "error", err, "retry_in", next)
			}
		case failures > 0:
			log.Info("sensor recovered", "sensor", s.id, "failures", failures)
			failures, lastMsg = 0, ""
			fallthrough
		default:
			next = s.interval - time.Since(start) // keep to the interval's pace
		}
		timer.Reset(max(next, 0))
	}
}

// backoff returns the delay before retry number failures (1 for the first
// retry) of a sensor polled every interval: interval, doubling with each
// failure, capped at limit.
func backoff(interval, limit time.Duration, failures int) time.Duration {
	d := interval
	for i := 1; i < failures && d < limit; i++ {
		if d > math.MaxInt64/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}
