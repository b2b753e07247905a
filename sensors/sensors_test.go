package sensors_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

const timeout = 5 * time.Second

// wait returns the next item of ch, failing the test after the timeout.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// record is a log record, flattened.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// logHandler sends every log record to a channel; records that do not fit
// its buffer are dropped.
type logHandler struct {
	ch    chan record
	attrs []slog.Attr
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: make(map[string]any)}
	for _, a := range h.attrs {
		rec.attrs[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.Any(); return true })
	select {
	case h.ch <- rec:
	default:
	}
	return nil
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{ch: h.ch, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }

// env is an application of two modules on an in-process hub: the sensors
// live on a, and b watches them.
type env struct {
	h    *testbus.Hub
	a, b *ipc.Bus
	logs chan record // a's log
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{h: testbus.New(t), logs: make(chan record, 1000)}
	e.a = e.h.BusWith("sensors", plumb.BusOptions{Logger: slog.New(&logHandler{ch: e.logs})})
	e.b = e.h.BusWith("watcher", plumb.BusOptions{Logger: slog.New(slog.DiscardHandler)})
	return e
}

// start runs a's (empty) setup and its start hooks, which start polling.
func (e *env) start(t *testing.T) {
	t.Helper()
	if err := e.h.Setup("sensors", nil); err != nil {
		t.Fatal(err)
	}
}

// catalogue returns the application's catalogue, as b sees it.
func (e *env) catalogue(t *testing.T) []ipc.Description {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ds, err := e.b.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// watch subscribes b to ids and returns the channel of their events.
func (e *env) watch(t *testing.T, ids ...string) <-chan ipc.Event {
	t.Helper()
	ch := make(chan ipc.Event, 1000)
	for _, id := range ids {
		if _, err := e.b.Subscribe(id, func(ev ipc.Event) {
			select {
			case ch <- ev:
			default: // the test reads only the first events
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.b.Flush(context.Background()); err != nil { // the hub has the subscriptions
		t.Fatal(err)
	}
	return ch
}

// nextLog returns the next record of a's log whose message is msg.
func (e *env) nextLog(t *testing.T, msg string) record {
	t.Helper()
	for {
		if r := wait(t, e.logs, "log "+msg); r.msg == msg {
			return r
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustContain(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

func thermo() sensors.Description {
	return sensors.Description{Unit: "°C", Min: new(-40.0), Max: new(125.0)}
}

func TestOneDimensionPublishes(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "room.temp")
	drv := fake.New(thermo(), []float64{21.5}, []float64{22})
	s := sensors.New(e.a, "room.temp", "Room", drv, sensors.Interval(time.Hour))
	must(t, s.Err())
	e.start(t) // the first read comes at once, the next in an hour
	ev := wait(t, events, "first reading")
	if ev.ID != "room.temp" || ev.Value.Type() != ipc.TypeNumber || ev.Value.Number() != 21.5 {
		t.Fatalf("first event %+v", ev)
	}
	must(t, s.Poll(context.Background()))
	if ev := wait(t, events, "second reading"); ev.Value.Number() != 22 {
		t.Fatalf("second event %+v", ev)
	}
	v := s.Value()
	if v == nil || v.ID() != "room.temp" || v.Name() != "Room" || v.Unit() != "°C" || v.Value() != 22 || v.IsInput() {
		t.Fatalf("value %+v", v)
	}
	if lo, ok := v.Min(); !ok || lo != -40 {
		t.Fatalf("min %v %v", lo, ok)
	}
	if s.Dimension("") != v || len(s.Values()) != 1 || s.Values()[0] != v || s.Dimension("x") != nil {
		t.Fatal("Dimension and Values disagree with Value")
	}
	if s.ID() != "room.temp" || s.Name() != "Room" || s.Interval() != time.Hour || s.Faulty() || s.Fault() != nil {
		t.Fatalf("accessors: %q %q %v %v", s.ID(), s.Name(), s.Interval(), s.Fault())
	}
	must(t, e.a.Flush(context.Background()))
	var found bool
	for _, c := range e.catalogue(t) {
		if c.ID == "room.temp" {
			found = true
			if c.Parent != "room.temp" || c.Unit != "°C" || c.Input || c.Module != "sensors" || *c.Max != 125 {
				t.Fatalf("catalogue entry %+v", c)
			}
		}
	}
	if !found {
		t.Fatal("room.temp not in the hub's catalogue")
	}
}

func TestSeveralDimensionsPublish(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "accel.x", "accel.y", "accel.z")
	desc := sensors.Description{Unit: "g", Dimensions: sensors.Labels("x", "y", "z")}
	s := sensors.New(e.a, "accel", "Accel", fake.New(desc, []float64{0.5, -1, 9.8}), sensors.Interval(time.Hour))
	must(t, s.Err())
	e.start(t)
	got := make(map[string]float64)
	for len(got) < 3 {
		ev := wait(t, events, "dimension")
		got[ev.ID] = ev.Value.Number()
	}
	if got["accel.x"] != 0.5 || got["accel.y"] != -1 || got["accel.z"] != 9.8 {
		t.Fatalf("events %v", got)
	}
	if s.Value() != nil {
		t.Fatal("Value of a sensor with several dimensions is not nil")
	}
	if d := s.Dimension("y"); d == nil || d.ID() != "accel.y" || d.Name() != "Accel y" || d.Value() != -1 || d.Unit() != "g" {
		t.Fatalf("dimension y: %+v", d)
	}
	if s.Dimension("") != nil || s.Dimension("w") != nil {
		t.Fatal("Dimension of an unknown label is not nil")
	}
	vs := s.Values()
	if len(vs) != 3 || vs[0].ID() != "accel.x" || vs[2].ID() != "accel.z" {
		t.Fatalf("values %v", vs)
	}
	must(t, e.a.Flush(context.Background()))
	children := 0
	for _, c := range e.catalogue(t) {
		switch {
		case c.ID == "accel":
			if c.Kind != ipc.KindSensor || c.Name != "Accel" || c.Unit != "g" || c.Type != 0 || c.Module != "sensors" {
				t.Fatalf("the sensor's entry %+v", c)
			}
		case strings.HasPrefix(c.ID, "accel."):
			children++
			if c.Kind != ipc.KindValue || c.Parent != "accel" || c.Unit != "g" || c.Min != nil || c.Max != nil {
				t.Fatalf("catalogue entry %+v", c)
			}
		}
	}
	if children != 3 {
		t.Fatalf("%d values name the sensor as their parent, want 3", children)
	}
}

// A DHT22-like sensor: humidity in % within 0..100, temperature in °C
// within -40..80. Each dimension publishes with its own unit and range,
// the catalogue shows them, and a reading is checked against the range of
// its own dimension.
func TestDimensionsHaveTheirOwnUnitsAndRanges(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "dht22.humidity", "dht22.temperature")
	desc := sensors.Description{Unit: "°C", Min: new(-40.0), Max: new(80.0), Dimensions: []sensors.Dimension{
		{Label: "humidity", Name: "Greenhouse humidity", Unit: "%", Min: new(0.0), Max: new(100.0)},
		{Label: "temperature"}, // the description's unit and range
	}}
	drv := fake.New(desc, []float64{95, 21.5})
	s := sensors.New(e.a, "dht22", "DHT22", drv, sensors.Interval(time.Hour))
	must(t, s.Err())
	e.start(t)
	got := make(map[string]float64)
	for len(got) < 2 {
		ev := wait(t, events, "dimension")
		got[ev.ID] = ev.Value.Number()
	}
	if got["dht22.humidity"] != 95 || got["dht22.temperature"] != 21.5 {
		t.Fatalf("events %v", got)
	}
	h, tmp := s.Dimension("humidity"), s.Dimension("temperature")
	if h.Name() != "Greenhouse humidity" || h.Unit() != "%" || tmp.Name() != "DHT22 temperature" || tmp.Unit() != "°C" {
		t.Fatalf("humidity %q %q, temperature %q %q", h.Name(), h.Unit(), tmp.Name(), tmp.Unit())
	}
	if lo, _ := h.Min(); lo != 0 {
		t.Fatalf("humidity min %v", lo)
	}
	if hi, _ := tmp.Max(); hi != 80 {
		t.Fatalf("temperature max %v", hi)
	}
	must(t, e.a.Flush(context.Background()))
	want := map[string]struct {
		unit     string
		min, max float64
	}{"dht22.humidity": {"%", 0, 100}, "dht22.temperature": {"°C", -40, 80}}
	for _, c := range e.catalogue(t) {
		if w, ok := want[c.ID]; ok {
			delete(want, c.ID)
			if c.Unit != w.unit || c.Min == nil || *c.Min != w.min || c.Max == nil || *c.Max != w.max || c.Parent != "dht22" {
				t.Fatalf("catalogue entry %+v, want %+v", c, w)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("not in the catalogue: %v", want)
	}

	// 90 is a humidity within range but a temperature out of it: the
	// reading fails whole, naming the temperature.
	drv.Set(90, 90)
	err := s.Poll(context.Background())
	if !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("Poll = %v, want out of range", err)
	}
	mustContain(t, err, `"dht22.temperature"`, "[-40, 80]")
	drv.Set(100, 80)
	must(t, s.Poll(context.Background()))
	if h.Value() != 100 || tmp.Value() != 80 {
		t.Fatalf("humidity %v, temperature %v", h.Value(), tmp.Value())
	}
}

func TestDelta(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "t")
	drv := fake.New(thermo(), []float64{10}, []float64{10.2}, []float64{10.6}, []float64{-1})
	s := sensors.New(e.a, "t", "T", drv, sensors.Delta(0.5))
	must(t, s.Err())
	testbus.Eventually(t, "the other process's interest", s.Value().Followed)
	for range 4 {
		must(t, s.Poll(context.Background()))
	}
	for _, want := range []float64{10, 10.6, -1} { // 10.2 is within 0.5 of 10
		if ev := wait(t, events, "event"); ev.Value.Number() != want {
			t.Fatalf("event %v, want %v", ev.Value, want)
		}
	}
}

// panicky is a driver whose reads panic.
type panicky struct{}

func (panicky) Describe() sensors.Description         { return sensors.Description{} }
func (panicky) Read(context.Context, []float64) error { panic("wire came loose") }

// lazy is a driver whose reads succeed without filling dst.
type lazy struct{}

func (lazy) Describe() sensors.Description {
	return sensors.Description{Dimensions: sensors.Labels("a", "b")}
}
func (lazy) Read(_ context.Context, dst []float64) error { dst[0] = 1; return nil }

// stuck is a driver whose reads last until their context ends.
type stuck struct{}

func (stuck) Describe() sensors.Description { return sensors.Description{} }
func (stuck) Read(ctx context.Context, _ []float64) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestPollFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	drv := fake.New(thermo(), []float64{20})
	s := sensors.New(e.a, "room.temp", "Room", drv)
	must(t, s.Err())
	must(t, s.Poll(ctx))

	errJam := errors.New("bus jammed")
	drv.Fail(errJam)
	err := s.Poll(ctx)
	if !errors.Is(err, errJam) || !errors.Is(s.Fault(), errJam) || !s.Faulty() {
		t.Fatalf("Poll = %v, Fault = %v", err, s.Fault())
	}
	mustContain(t, err, `"room.temp"`, "bus jammed")
	drv.Fail(nil)
	must(t, s.Poll(ctx))
	if s.Faulty() {
		t.Fatalf("still faulty after a good read: %v", s.Fault())
	}

	drv.Set(150) // above the description's Max
	err = s.Poll(ctx)
	if !errors.Is(err, ipc.ErrOutOfRange) || !errors.Is(s.Fault(), ipc.ErrOutOfRange) {
		t.Fatalf("out of range: %v", err)
	}
	mustContain(t, err, `"room.temp"`, "150", "[-40, 125]")
	if v := s.Value().Value(); v != 20 {
		t.Fatalf("refused reading changed the value to %v", v)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		drv.Set(bad)
		err = s.Poll(ctx)
		mustContain(t, err, `"room.temp"`)
		if !s.Faulty() {
			t.Fatalf("reading %v did not make the sensor faulty", bad)
		}
	}
	drv.Set(1, 2) // one number too many
	mustContain(t, s.Poll(ctx), `"room.temp"`, "2 numbers")

	// A read cut short by its caller says nothing about the device.
	drv.Set(21)
	must(t, s.Poll(ctx))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Poll(cctx); !errors.Is(err, context.Canceled) || s.Faulty() {
		t.Fatalf("cancelled poll: %v, fault %v", err, s.Fault())
	}

	// Reads are bounded by the interval.
	st := sensors.New(e.a, "stuck", "Stuck", stuck{}, sensors.Interval(time.Millisecond))
	must(t, st.Err())
	if err := st.Poll(ctx); !errors.Is(err, context.DeadlineExceeded) || !st.Faulty() {
		t.Fatalf("stuck driver: %v, fault %v", err, st.Fault())
	}

	p := sensors.New(e.a, "panicky", "Panicky", panicky{})
	must(t, p.Err())
	mustContain(t, p.Poll(ctx), `"panicky"`, "panicked", "wire came loose")
	if !p.Faulty() {
		t.Fatal("panicking driver did not make the sensor faulty")
	}

	l := sensors.New(e.a, "lazy", "Lazy", lazy{})
	must(t, l.Err())
	mustContain(t, l.Poll(ctx), `"lazy"`, `"lazy.b"`)
	if l.Dimension("a").Any() != nil {
		t.Fatal("a partial reading was published")
	}

	three := fake.New(sensors.Description{Dimensions: sensors.Labels("x", "y", "z")}, []float64{1, 2})
	m := sensors.New(e.a, "accel", "Accel", three)
	must(t, m.Err())
	mustContain(t, m.Poll(ctx), `"accel"`, "2 numbers, want 3")
}

func TestLoopLogsFaultsAndRecovers(t *testing.T) {
	e := newEnv(t)
	events := e.watch(t, "room.temp")
	drv := fake.New(thermo(), []float64{20})
	// With a delta, the same reading is published only once.
	s := sensors.New(e.a, "room.temp", "Room", patient{drv}, sensors.Delta(0.5),
		sensors.Interval(time.Millisecond), sensors.MaxBackoff(4*time.Millisecond))
	must(t, s.Err())
	e.start(t)
	if ev := wait(t, events, "reading"); ev.Value.Number() != 20 {
		t.Fatalf("event %+v", ev)
	}

	drv.Fail(errors.New("no ack"))
	r := e.nextLog(t, "sensor read failed")
	if r.level != slog.LevelWarn || r.attrs["sensor"] != "room.temp" || r.attrs["module"] != "sensors" {
		t.Fatalf("failure log %+v", r)
	}
	if err, _ := r.attrs["error"].(error); err == nil || !strings.Contains(err.Error(), "no ack") {
		t.Fatalf("failure log error %v", r.attrs["error"])
	}
	if d, _ := r.attrs["retry_in"].(time.Duration); d != time.Millisecond {
		t.Fatalf("first retry in %v, want the interval", r.attrs["retry_in"])
	}
	mustContain(t, s.Fault(), "no ack") // logged after the fault was recorded

	// The failing reads go on, but only a new message is logged again.
	n := drv.Reads()
	if _, err := drv.WaitReads(context.Background(), n+3); err != nil {
		t.Fatal(err)
	}
	drv.Fail(errors.New("crc mismatch"))
	r = e.nextLog(t, "sensor read failed")
	if err, _ := r.attrs["error"].(error); err == nil || !strings.Contains(err.Error(), "crc mismatch") {
		t.Fatalf("second failure logged %v; the first must be logged once", r.attrs["error"])
	}
	if d, _ := r.attrs["retry_in"].(time.Duration); d != 4*time.Millisecond {
		t.Fatalf("retry in %v, want the max backoff", r.attrs["retry_in"])
	}

	drv.Fail(nil)
	drv.Set(23)
	r = e.nextLog(t, "sensor recovered")
	if r.level != slog.LevelInfo || r.attrs["sensor"] != "room.temp" {
		t.Fatalf("recovery log %+v", r)
	}
	if s.Faulty() {
		t.Fatalf("faulty after recovery: %v", s.Fault())
	}
	if ev := wait(t, events, "reading after recovery"); ev.Value.Number() != 23 {
		t.Fatalf("event %+v", ev)
	}
}

// patient hides the read's deadline from a fake driver, so that reads
// cannot time out, however slow the test machine is.
type patient struct{ *fake.Driver }

func (d patient) Read(ctx context.Context, dst []float64) error {
	return d.Driver.Read(context.WithoutCancel(ctx), dst)
}

// timedDriver records when each read starts.
type timedDriver struct {
	*fake.Driver
	starts chan time.Time
}

func (d timedDriver) Read(ctx context.Context, dst []float64) error {
	select {
	case d.starts <- time.Now():
	default:
	}
	return d.Driver.Read(ctx, dst)
}

func TestBackoffSlowsRetries(t *testing.T) {
	e := newEnv(t)
	drv := timedDriver{fake.New(thermo()), make(chan time.Time, 100)}
	drv.Fail(errors.New("dead"))
	const interval = time.Millisecond
	must(t, sensors.New(e.a, "dead", "Dead", drv, sensors.Interval(interval), sensors.MaxBackoff(time.Hour)).Err())
	e.start(t)
	// Timers never fire early, so the gaps between reads are at least
	// the backoff delays: 1, 2, 4, 8, 16 and 32 ms. Reads every interval
	// would have taken 6 ms for all 7 reads instead of 63 ms or more.
	prev := wait(t, drv.starts, "read 1")
	want := interval
	for i := 2; i <= 7; i++ {
		at := wait(t, drv.starts, "read")
		if gap := at.Sub(prev); gap < want {
			t.Fatalf("read %d came %v after the previous one, want at least %v", i, gap, want)
		}
		prev, want = at, 2*want
	}
}

func TestLoopStopsWithModule(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(thermo(), []float64{1})
	must(t, sensors.New(e.a, "t", "T", patient{drv}, sensors.Interval(time.Millisecond)).Err())
	e.start(t)
	if _, err := drv.WaitReads(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	e.h.Stop("sensors") // returns once the loop has
	n := drv.Reads()
	for len(e.logs) > 0 {
		if r := <-e.logs; r.level >= slog.LevelWarn {
			t.Fatalf("logged %q %v", r.msg, r.attrs)
		}
	}
	if drv.Reads() != n {
		t.Fatal("the driver was read after the module stopped")
	}
}

func TestNewErrors(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(thermo(), []float64{1})
	cases := []struct {
		name string
		bus  *ipc.Bus
		id   string
		drv  sensors.Driver
		opts []sensors.Option
		is   error
		subs []string
	}{
		{name: "nil bus", id: "s", drv: drv, subs: []string{`"s"`, "nil bus"}},
		{name: "nil driver", bus: e.a, id: "s", subs: []string{`"s"`, "nil driver"}},
		{name: "zero interval", bus: e.a, id: "s", drv: drv, opts: []sensors.Option{sensors.Interval(0)}, subs: []string{`"s"`, "interval 0", "Watcher"}},
		{name: "negative interval", bus: e.a, id: "s", drv: drv, opts: []sensors.Option{sensors.Interval(-time.Second)}, subs: []string{`"s"`, "interval"}},
		{name: "zero backoff", bus: e.a, id: "s", drv: drv, opts: []sensors.Option{sensors.MaxBackoff(0)}, subs: []string{`"s"`, "backoff"}},
		{name: "negative delta", bus: e.a, id: "s", drv: drv, opts: []sensors.Option{sensors.Delta(-1)}, subs: []string{`"s"`, "delta"}},
		{name: "invalid id", bus: e.a, id: "bad id", drv: drv, is: ipc.ErrInvalidID, subs: []string{`"bad id"`}},
		{name: "invalid label", bus: e.a, id: "s", drv: fake.New(sensors.Description{Dimensions: sensors.Labels("a b")}), is: ipc.ErrInvalidID, subs: []string{`"s"`, `"a b"`}},
		{name: "empty label", bus: e.a, id: "s", drv: fake.New(sensors.Description{Dimensions: sensors.Labels("x", "")}), subs: []string{`"s"`, "empty"}},
		{name: "repeated label", bus: e.a, id: "s", drv: fake.New(sensors.Description{Dimensions: sensors.Labels("x", "x")}), is: ipc.ErrDuplicateID, subs: []string{`"s"`, `"x"`}},
		{name: "empty range", bus: e.a, id: "s", drv: fake.New(sensors.Description{Min: new(1.0), Max: new(0.0)}), subs: []string{`"s"`, "range"}},
		{name: "empty dimension range", bus: e.a, id: "s", drv: fake.New(sensors.Description{Max: new(0.0), Dimensions: []sensors.Dimension{{Label: "x"}, {Label: "y", Min: new(1.0)}}}), subs: []string{`"s"`, `dimension "y"`, "range [1, 0]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := sensors.New(c.bus, c.id, "S", c.drv, c.opts...)
			err := s.Err()
			if err == nil {
				t.Fatal("no error")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v does not match %v", err, c.is)
			}
			mustContain(t, err, c.subs...)
			// The failed sensor is usable: it does nothing and says why.
			if p := s.Poll(context.Background()); p != err || s.Fault() != err {
				t.Fatalf("Poll = %v, Fault = %v, want %v", p, s.Fault(), err)
			}
			if v := s.Value(); v == nil || v.Set(1) != err || v.Err() != err {
				t.Fatalf("value of a failed sensor: %v", v)
			}
			if v := s.Dimension("x"); v == nil || v.ID() != c.id+".x" || v.Set(1) != err {
				t.Fatalf("dimension of a failed sensor: %v", v)
			}
			if len(s.Values()) != 0 {
				t.Fatalf("values of a failed sensor: %v", s.Values())
			}
		})
	}
	// The bus kept the first error recorded on it, which fails the setup.
	if err := e.a.Err(); err == nil || !strings.Contains(err.Error(), "nil driver") {
		t.Fatalf("bus error %v, want the first recorded", err)
	}
	// None of the failed sensors registered a value: "s" is still free.
	must(t, sensors.New(e.a, "s", "S", drv).Err())
	err := sensors.New(e.a, "s", "S", drv).Err()
	if !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("duplicate id: %v", err)
	}
	mustContain(t, err, `"s"`)
	if err := e.h.Setup("sensors", nil); err == nil || !strings.Contains(err.Error(), "nil driver") {
		t.Fatalf("setup of a module with a failed sensor: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	drv := fake.Sine(sensors.Description{Dimensions: sensors.Labels("a", "b"), Min: new(0.0), Max: new(1.0)}, time.Second, 0, 1)
	s := sensors.New(e.a, "sine", "Sine", patient{drv}, sensors.Interval(time.Millisecond))
	must(t, s.Err())
	e.start(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if err := s.Poll(context.Background()); err != nil {
					t.Error(err)
					return
				}
				_ = s.Faulty()
				_ = s.Dimension("b").Value()
			}
		})
	}
	wg.Wait()
}
