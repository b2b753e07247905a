package sensors_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/sensors"
)

// pusher is a Driver and Watcher whose Watch emits what the test sends on
// readings, and returns what it sends on fail. Its Read counts calls.
type pusher struct {
	desc     sensors.Description
	readings chan []float64
	fail     chan error
	started  chan struct{} // one per call of Watch
	ended    chan struct{} // one per return of Watch

	mu    sync.Mutex
	reads int
}

func newPusher(desc sensors.Description) *pusher {
	return &pusher{desc: desc, readings: make(chan []float64), fail: make(chan error),
		started: make(chan struct{}, 100), ended: make(chan struct{}, 100)}
}

func (p *pusher) Describe() sensors.Description { return p.desc }

func (p *pusher) Read(ctx context.Context, dst []float64) error {
	p.mu.Lock()
	p.reads++
	p.mu.Unlock()
	return errors.New("pusher: not polled")
}

func (p *pusher) Watch(ctx context.Context, emit func([]float64)) error {
	p.started <- struct{}{}
	defer func() { p.ended <- struct{}{} }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-p.readings:
			emit(r)
			p.readings <- nil // emit has returned
		case err := <-p.fail:
			return err
		}
	}
}

// send hands the Watch a reading and waits until it has emitted it,
// failing the test if it does not.
func (p *pusher) send(t *testing.T, r ...float64) {
	t.Helper()
	select {
	case p.readings <- r:
	case <-time.After(timeout):
		t.Fatal("Watch did not take a reading")
	}
	select {
	case <-p.readings:
	case <-time.After(timeout):
		t.Fatal("emit did not return")
	}
}

func TestWatcherPublishesWithoutPolling(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "door")
	p := newPusher(sensors.Description{Unit: "", Min: new(0.0), Max: new(1.0)})
	s := sensors.New(e.a, "door", "Door", p, sensors.Interval(0))
	must(t, s.Err())
	if s.Interval() != 0 {
		t.Fatalf("interval %v", s.Interval())
	}
	e.start(t)
	wait(t, p.started, "Watch to start")
	for _, x := range []float64{1, 0, 1} {
		p.send(t, x)
		if ev := wait(t, events, "an emitted reading"); ev.Value.Number() != x {
			t.Fatalf("event %+v, want %v", ev, x)
		}
	}
	if s.Value().Value() != 1 || s.Faulty() {
		t.Fatalf("value %v, fault %v", s.Value().Value(), s.Fault())
	}
	p.mu.Lock()
	reads := p.reads
	p.mu.Unlock()
	if reads != 0 {
		t.Fatalf("a sensor with interval 0 was polled %d times", reads)
	}
	e.h.Stop("sensors") // ends Watch's context, and waits for it
	wait(t, p.ended, "Watch to return at the stop")
}

func TestWatcherChecksReadings(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "accel.x", "accel.y")
	p := newPusher(sensors.Description{Unit: "g", Min: new(-2.0), Max: new(2.0), Dimensions: sensors.Labels("x", "y")})
	s := sensors.New(e.a, "accel", "Accel", p, sensors.Interval(0))
	must(t, s.Err())
	e.start(t)
	p.send(t, 3, 0) // x out of range: nothing published
	r := e.nextLog(t, "sensor reading refused")
	if r.attrs["sensor"] != "accel" {
		t.Fatalf("log %+v", r)
	}
	mustContain(t, s.Fault(), `"accel"`, "3")
	p.send(t, 1) // one number short
	mustContain(t, s.Fault(), "1 numbers, want 2")
	p.send(t, 0.5, -0.5)
	got := map[string]float64{}
	for len(got) < 2 {
		ev := wait(t, events, "a good reading")
		got[ev.ID] = ev.Value.Number()
	}
	if got["accel.x"] != 0.5 || got["accel.y"] != -0.5 {
		t.Fatalf("published %v (a refused reading got through?)", got)
	}
	e.nextLog(t, "sensor recovered")
	if s.Faulty() {
		t.Fatalf("fault after a good reading: %v", s.Fault())
	}
}

func TestWatcherRestartsAfterFailure(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "count")
	p := newPusher(sensors.Description{Unit: "pulses"})
	s := sensors.New(e.a, "count", "Count", p, sensors.Interval(0), sensors.MaxBackoff(time.Millisecond))
	must(t, s.Err())
	e.start(t)
	wait(t, p.started, "Watch to start")
	errGone := errors.New("serial line closed")
	p.fail <- errGone
	r := e.nextLog(t, "sensor watch failed")
	if err, _ := r.attrs["error"].(error); !errors.Is(err, errGone) {
		t.Fatalf("log %+v", r)
	}
	wait(t, p.started, "Watch to run again")
	p.send(t, 7)
	if ev := wait(t, events, "a reading after the restart"); ev.Value.Number() != 7 {
		t.Fatalf("event %+v", ev)
	}
}

// The backoff before a Watch runs again doubles with each failure, and
// starts again from the interval once a reading is published.
func TestWatcherBackoffResetsAfterAReading(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "count")
	p := newPusher(sensors.Description{Unit: "pulses"})
	s := sensors.New(e.a, "count", "Count", p, sensors.Interval(time.Millisecond), sensors.MaxBackoff(time.Hour))
	must(t, s.Err())
	e.start(t)
	fail := func(want time.Duration) {
		t.Helper()
		p.fail <- errors.New("serial line closed")
		r := e.nextLog(t, "sensor watch failed")
		if got, _ := r.attrs["retry_in"].(time.Duration); got != want {
			t.Fatalf("retry_in %v, want %v", r.attrs["retry_in"], want)
		}
		wait(t, p.started, "Watch to run again")
	}
	wait(t, p.started, "Watch to start")
	fail(time.Millisecond)
	fail(2 * time.Millisecond)
	p.send(t, 7)
	wait(t, events, "the reading")
	e.nextLog(t, "sensor recovered")
	fail(time.Millisecond)
}

// hanger is a pusher whose Read hangs until its context ends.
type hanger struct{ *pusher }

func (h hanger) Read(ctx context.Context, dst []float64) error {
	<-ctx.Done()
	return ctx.Err()
}

// A Poll of a sensor driven by events alone is bounded too: a hung read
// would hold up the sensor's events.
func TestWatcherPollHasADeadline(t *testing.T) {
	e := newEnv(t)
	s := sensors.New(e.a, "door", "Door", hanger{newPusher(sensors.Description{})}, sensors.Interval(0))
	must(t, s.Err())
	e.start(t)
	done := make(chan error, 1)
	go func() { done <- s.Poll(context.Background()) }()
	if err := wait(t, done, "Poll to end at its deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Poll: %v, want a deadline exceeded", err)
	}
	if !s.Faulty() {
		t.Fatal("a hung read left the sensor healthy")
	}
}

// A sensor whose driver is a Watcher and has an interval is polled too.
func TestWatcherAndPolling(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "temp")
	drv := &watchingFake{Driver: fake.New(thermo(), []float64{20}), p: newPusher(thermo())}
	s := sensors.New(e.a, "temp", "Temp", drv, sensors.Interval(time.Hour))
	must(t, s.Err())
	e.start(t)
	if ev := wait(t, events, "the first poll"); ev.Value.Number() != 20 {
		t.Fatalf("event %+v", ev)
	}
	drv.p.send(t, 30)
	if ev := wait(t, events, "an emitted reading"); ev.Value.Number() != 30 {
		t.Fatalf("event %+v", ev)
	}
}

type watchingFake struct {
	*fake.Driver
	p *pusher
}

func (w *watchingFake) Watch(ctx context.Context, emit func([]float64)) error {
	return w.p.Watch(ctx, emit)
}

func TestIntervalZeroNeedsWatcher(t *testing.T) {
	e := newEnv(t)
	s := sensors.New(e.a, "t", "T", fake.New(thermo(), []float64{1}), sensors.Interval(0))
	mustContain(t, s.Err(), `"t"`, "interval 0", "Watcher")
	s = sensors.New(e.a, "u", "U", fake.New(thermo(), []float64{1}), sensors.Interval(-time.Second))
	mustContain(t, s.Err(), `"u"`, "negative")
}
