// Package sensors turns device drivers into published values: a Sensor
// polls its Driver at an interval and publishes each reading on the bus as
// values.Number outputs, which any process of the application can follow by
// id.
//
// # Ids
//
// A sensor with one dimension (a thermometer, a CPU load) publishes one
// value whose id is the sensor's id. A sensor with several dimensions (an
// accelerometer with "x", "y" and "z", a DHT22 with "temperature" and
// "humidity") publishes one value per dimension, with the id
// "<sensor id>.<label>" and, unless the dimension names it, the name
// "<sensor name> <label>"; there is no value at the bare sensor id. Every
// value names the sensor id as its parent.
//
// # Units and ranges
//
// Each dimension has its own unit and range (Dimension): a DHT22's
// humidity is in % within 0..100, its temperature in °C within -40..80.
// The description's Unit, Min and Max apply to the dimensions that do not
// set their own, and to the one dimension of a sensor without Dimensions.
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
// # Events
//
// A driver whose device pushes readings (a GPIO edge, a counter, a serial
// line) implements Watcher as well as Driver. The sensor then runs its
// Watch from the module's start until it stops, and publishes each reading
// Watch emits, checked as a polled reading is: a reading that fails the
// checks is not published and makes the sensor faulty until one passes.
// Such a sensor is also polled at its interval, unless the interval is 0
// (Interval(0)): then it is driven by events alone, and Read serves only
// Poll. A Watch that returns before the module stops (with an error or
// not) is a fault: it is logged and Watch is run again after a backoff as
// for a failed read (the interval, or DefaultInterval for a sensor that is
// not polled, doubling with each failure up to MaxBackoff, and back to
// the start once a reading is published).
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
//
// # Errors of creation
//
// New returns a usable *Sensor and no error, as bufio.Scanner does: a
// sensor whose creation failed (an invalid or taken id, a bad option or
// description) records the error on the module's bus (ipc.Bus.Fail), which
// fails the module's setup with the first such error if the setup returned
// nil, and returns it from Err, Fault and Poll. Such a sensor never reads
// its driver, and its values do nothing. Created once the setup is over,
// the error also goes to the bus's error handler.
package sensors

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/failed"
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
	// is Description.Len()). It should return when ctx ends.
	Read(ctx context.Context, dst []float64) error
}

// Watcher is implemented by a Driver whose device pushes readings (a GPIO
// edge, a counter, a serial line); see the package doc.
type Watcher interface {
	// Watch runs until ctx ends, calling emit with each new reading, one
	// number per dimension (len = Description.Len()). emit copies the
	// reading, so the caller may reuse it; it is safe for concurrent use
	// and does nothing once ctx has ended. Watch should return when ctx
	// ends; what it returns then is ignored.
	Watch(ctx context.Context, emit func(reading []float64)) error
}

// Description says what a driver measures.
type Description struct {
	// Unit is the unit of the readings, such as "°C" or "%": of the one
	// dimension of a sensor without Dimensions, and of every dimension
	// that does not set its own.
	Unit string
	// Min and Max bound the readings, as Unit applies; nil means
	// unbounded. A reading outside its bounds is a failed read.
	Min, Max *float64
	// Dimensions describe the dimensions of a sensor with several, in the
	// order of a reading's numbers. Empty means one dimension, published at
	// the sensor's id.
	Dimensions []Dimension
}

// Dimension describes one dimension of a sensor with several.
type Dimension struct {
	// Label names the dimension, such as "x" or "humidity"; its value's id
	// is "<sensor id>.<label>". Required, unique within the sensor.
	Label string
	// Name is the name of the dimension's value for people. Default:
	// "<sensor name> <label>".
	Name string
	// Unit is the dimension's unit. Default: the description's Unit.
	Unit string
	// Min and Max bound the dimension's readings. Default (nil): the
	// description's Min and Max.
	Min, Max *float64
}

// Labels returns dimensions with the given labels and nothing else, for
// the common case of dimensions that share the description's unit and
// range: Description{Unit: "g", Dimensions: sensors.Labels("x", "y", "z")}.
func Labels(labels ...string) []Dimension {
	dims := make([]Dimension, len(labels))
	for i, l := range labels {
		dims[i].Label = l
	}
	return dims
}

// Len returns the number of numbers in one reading: the number of
// dimensions, or 1 if there are none.
func (d Description) Len() int { return max(1, len(d.Dimensions)) }

// Dimension returns dimension i (0 <= i < Len()) with the description's
// unit and range filled in where it sets none; its Name stays as given.
// For a description without Dimensions, dimension 0 is the description's
// unit and range, with no label.
func (d Description) Dimension(i int) Dimension {
	var dim Dimension
	if len(d.Dimensions) > 0 {
		dim = d.Dimensions[i]
	}
	if dim.Unit == "" {
		dim.Unit = d.Unit
	}
	if dim.Min == nil {
		dim.Min = d.Min
	}
	if dim.Max == nil {
		dim.Max = d.Max
	}
	return dim.clone()
}

func (d Dimension) clone() Dimension {
	if d.Min != nil {
		d.Min = new(*d.Min)
	}
	if d.Max != nil {
		d.Max = new(*d.Max)
	}
	return d
}

// Clone returns a copy of d that shares no memory with it.
func (d Description) Clone() Description {
	if d.Min != nil {
		d.Min = new(*d.Min)
	}
	if d.Max != nil {
		d.Max = new(*d.Max)
	}
	if d.Dimensions != nil {
		dims := make([]Dimension, len(d.Dimensions))
		for i, dim := range d.Dimensions {
			dims[i] = dim.clone()
		}
		d.Dimensions = dims
	}
	return d
}

// Option configures a Sensor.
type Option func(*config) error

type config struct {
	interval   time.Duration
	maxBackoff time.Duration
	valueOpts  []values.Option
	meta       ipc.Meta
}

// Default settings.
const (
	DefaultInterval   = time.Second
	DefaultMaxBackoff = time.Minute
)

// Interval sets how often the sensor reads its driver; it must not be
// negative. 0 means never: the sensor is driven by the events of its
// driver alone, which must then implement Watcher (see the package doc).
// Default: DefaultInterval.
func Interval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("interval %v is negative", d)
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

// Meta sets the entry key of the sensor's metadata in the application's
// catalogue (ipc.Description.Meta) to value, for observers such as a
// dashboard; a later Meta with the same key replaces it. It applies to the
// sensor's entry: for a sensor with several dimensions the entry of kind
// ipc.KindSensor at its id, for a sensor with one dimension its value (see
// the package doc). Keys are namespaced by their user, such as "dashboard"
// (see package dashboard/layout). A key or a value that ipc.ValidateMeta
// refuses makes New fail, naming the sensor and the key.
func Meta(key, value string) Option {
	return func(c *config) error { return c.meta.Set(key, value) }
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
	err        error    // of the creation; the sensor then does nothing

	pollMu sync.Mutex // serialises reads and publishing
	buf    []float64  // under pollMu

	faultMu sync.Mutex
	fault   error
}

// New creates the sensor id, named name, reading drv, and registers its
// values on bus (see the package doc for their ids). It starts polling when
// the module starts, so it belongs in the module's setup: a sensor created
// after the start hooks have run only reads on Poll.
//
// The creation fails if an id is invalid (ipc.ErrInvalidID) or already
// taken in this process (ipc.ErrDuplicateID), or an option, the driver or
// its description is bad; the sensor then records the error, which names
// it (see the package doc). An id another module owns is reported by the
// hub, see ipc.Bus.RegisterValue.
func New(bus *ipc.Bus, id, name string, drv Driver, opts ...Option) *Sensor {
	s := &Sensor{bus: bus, id: id, name: name, drv: drv}
	if recorded, err := s.create(opts); err != nil {
		s.err = err
		switch {
		case recorded: // by the value that failed
		case bus == nil:
			slog.Default().Error("kervi: a sensor could not be created", "id", id, "error", err)
		default:
			bus.Fail(err)
		}
	}
	return s
}

// create checks the sensor's settings and creates its values. recorded
// reports that the error was recorded on the bus already (by a value).
func (s *Sensor) create(opts []Option) (recorded bool, err error) {
	id, name, bus := s.id, s.name, s.bus
	fail := func(format string, args ...any) (bool, error) {
		return false, fmt.Errorf("sensors: sensor %q: "+format, append([]any{id}, args...)...)
	}
	if bus == nil {
		return fail("nil bus")
	}
	if s.drv == nil {
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
	watcher, isWatcher := s.drv.(Watcher)
	if c.interval == 0 && !isWatcher {
		return fail("interval 0 (not polled) needs a driver that implements sensors.Watcher; %T does not", s.drv)
	}
	desc := s.drv.Describe().Clone()
	s.desc, s.interval, s.maxBackoff = desc, c.interval, max(c.maxBackoff, c.interval)
	s.buf = make([]float64, desc.Len())
	// Check every id and range before registering any value: the bus
	// cannot take an id back.
	dims := make([]Dimension, desc.Len())
	ids, names := []string{id}, []string{name}
	s.labels = []string{""}
	if len(desc.Dimensions) > 0 {
		ids, names, s.labels = nil, nil, nil
	}
	seen := make(map[string]bool)
	for i := range dims {
		d := desc.Dimension(i)
		dims[i] = d
		what := "range"
		if len(desc.Dimensions) > 0 {
			what = fmt.Sprintf("dimension %q: range", d.Label)
			if d.Label == "" {
				return fail("empty dimension label")
			}
			if seen[d.Label] {
				return fail("dimension label %q given twice: %w", d.Label, ipc.ErrDuplicateID)
			}
			seen[d.Label] = true
			vid := id + "." + d.Label
			if err := ipc.ValidateID(vid); err != nil {
				return fail("dimension %q: %w", d.Label, err)
			}
			n := d.Name
			if n == "" {
				n = name + " " + d.Label
			}
			ids, names, s.labels = append(ids, vid), append(names, n), append(s.labels, d.Label)
		}
		if d.Min != nil && math.IsNaN(*d.Min) || d.Max != nil && math.IsNaN(*d.Max) {
			return fail("%s bound is NaN", what)
		}
		if d.Min != nil && d.Max != nil && *d.Min > *d.Max {
			return fail("%s [%g, %g] is empty", what, *d.Min, *d.Max)
		}
	}
	if len(desc.Dimensions) > 0 { // with one dimension, the sensor is its value
		err := bus.Announce(ipc.Description{ID: id, Kind: ipc.KindSensor, Name: name, Unit: desc.Unit, Min: desc.Min, Max: desc.Max, Meta: c.meta})
		if err != nil {
			return fail("%w", err)
		}
	}
	for i, vid := range ids {
		d := dims[i]
		vopts := []values.Option{values.Output(), values.Unit(d.Unit), values.Parent(id)}
		if d.Min != nil {
			vopts = append(vopts, values.Min(*d.Min))
		}
		if d.Max != nil {
			vopts = append(vopts, values.Max(*d.Max))
		}
		vopts = append(vopts, c.valueOpts...)
		if len(desc.Dimensions) == 0 { // the sensor is its value
			for k, v := range c.meta {
				vopts = append(vopts, values.Meta(k, v))
			}
		}
		v := values.NewNumber(bus, vid, names[i], vopts...)
		if err := v.Err(); err != nil {
			return true, fmt.Errorf("sensors: sensor %q: %w", id, err)
		}
		s.vals = append(s.vals, v)
	}
	bus.OnStart(func(context.Context) error {
		if s.interval > 0 {
			bus.Go(s.run)
		}
		if isWatcher {
			bus.Go(func(ctx context.Context) { s.watch(ctx, watcher) })
		}
		return nil
	})
	return false, nil
}

// Err returns the error that kept the sensor from being created, or nil.
// A sensor whose creation failed never reads its driver; its values do
// nothing (see the package doc).
func (s *Sensor) Err() error { return s.err }

// failedValue returns a value at vid that does nothing, for a sensor whose
// creation failed.
func (s *Sensor) failedValue(vid, name string) *values.Number {
	return failed.Value(ipc.TypeNumber, vid, name, false, s.err).(*values.Number)
}

// ID returns the sensor's id.
func (s *Sensor) ID() string { return s.id }

// Name returns the sensor's name.
func (s *Sensor) Name() string { return s.name }

// Interval returns how often the sensor reads its driver while healthy; 0
// for a sensor driven by events alone.
func (s *Sensor) Interval() time.Duration { return s.interval }

// Value returns the value of a one-dimension sensor, and nil for a sensor
// with several dimensions (see Dimension). A sensor whose creation failed
// returns a value that does nothing.
func (s *Sensor) Value() *values.Number {
	if s.err != nil {
		return s.failedValue(s.id, s.name)
	}
	if len(s.desc.Dimensions) > 0 {
		return nil
	}
	return s.vals[0]
}

// Dimension returns the value of the dimension label, or nil if the sensor
// has no such dimension. The one dimension of a sensor without Dimensions
// has the label "". A sensor whose creation failed returns a value that
// does nothing.
func (s *Sensor) Dimension(label string) *values.Number {
	if s.err != nil {
		if label == "" {
			return s.failedValue(s.id, s.name)
		}
		return s.failedValue(s.id+"."+label, s.name+" "+label)
	}
	for i, l := range s.labels {
		if l == label {
			return s.vals[i]
		}
	}
	return nil
}

// Values returns the sensor's values, one per dimension, in the order of
// the description's Dimensions; none if its creation failed.
func (s *Sensor) Values() []*values.Number { return append([]*values.Number(nil), s.vals...) }

// Fault returns the error of the last read if it failed, and nil while the
// sensor is healthy. A sensor whose creation failed returns that error.
func (s *Sensor) Fault() error {
	if s.err != nil {
		return s.err
	}
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
// bounded by the sensor's interval (DefaultInterval for a sensor driven
// by events alone: a read that hangs would hold up its events). A failed
// read makes the sensor faulty and a successful one healthy, except that
// a read cut short because ctx ended leaves the sensor's state as it was.
func (s *Sensor) Poll(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.period())
	defer cancel()
	err := s.read(rctx)
	if err != nil {
		if ctx.Err() == nil {
			s.setFault(err)
		}
		return err
	}
	return s.publish()
}

// publish publishes the checked reading in s.buf and makes the sensor
// healthy, or faulty if the bus refuses it; s.pollMu is held.
func (s *Sensor) publish() error {
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
	return s.check()
}

// check checks the reading in s.buf; s.pollMu is held.
func (s *Sensor) check() error {
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

// emit checks and publishes a reading a Watcher emitted; a reading that
// fails the checks is not published and makes the sensor faulty.
func (s *Sensor) emit(reading []float64) error {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if len(reading) != len(s.buf) {
		err := fmt.Errorf("sensors: sensor %q: watch emitted %d numbers, want %d", s.id, len(reading), len(s.buf))
		s.setFault(err)
		return err
	}
	copy(s.buf, reading)
	if err := s.check(); err != nil {
		s.setFault(err)
		return err
	}
	return s.publish()
}

// period is the sensor's interval, or DefaultInterval for a sensor that
// is not polled: it bounds a read and starts a backoff.
func (s *Sensor) period() time.Duration {
	if s.interval == 0 {
		return DefaultInterval
	}
	return s.interval
}

// watch runs the driver's Watch until ctx ends, again after a backoff
// each time it returns early.
func (s *Sensor) watch(ctx context.Context, w Watcher) {
	log := s.bus.Logger()
	base := s.period()
	// failures counts the Watch runs that failed since a reading was last
	// published; lastMsg is the last refused reading's error. mu guards
	// both: emit may be called from any goroutine, even one a Watch that
	// returned left behind.
	var mu sync.Mutex
	failures := 0
	lastMsg := ""
	emit := func(reading []float64) {
		if ctx.Err() != nil {
			return
		}
		err := s.emit(reading)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			if msg := err.Error(); msg != lastMsg {
				lastMsg = msg
				log.Warn("sensor reading refused", "sensor", s.id, "error", err)
			}
		case failures > 0 || lastMsg != "":
			failures, lastMsg = 0, ""
			log.Info("sensor recovered", "sensor", s.id)
		}
	}
	for {
		err := s.runWatch(ctx, w, emit)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("sensors: sensor %q: watch returned before the module stopped", s.id)
		}
		mu.Lock()
		failures++
		next := backoff(base, max(s.maxBackoff, base), failures)
		mu.Unlock()
		s.setFault(err)
		log.Warn("sensor watch failed", "sensor", s.id, "error", err, "retry_in", next)
		timer := time.NewTimer(next)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// runWatch runs w.Watch, turning a panic into an error.
func (s *Sensor) runWatch(ctx context.Context, w Watcher, emit func([]float64)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sensors: sensor %q: watch panicked: %v", s.id, r)
		}
	}()
	if err := w.Watch(ctx, emit); err != nil {
		return fmt.Errorf("sensors: sensor %q: watch: %w", s.id, err)
	}
	return nil
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
