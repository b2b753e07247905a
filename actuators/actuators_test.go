package actuators_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// hw is a fake driver: each write is sent on writes; while gate is not
// nil, a write waits for a token from it; fail makes writes fail.
type hw[T any] struct {
	writes chan T
	gate   chan struct{}

	mu   sync.Mutex
	fail error
}

func newHW[T any]() *hw[T] { return &hw[T]{writes: make(chan T, 100)} }

func (h *hw[T]) write(ctx context.Context, v T) error {
	h.writes <- v
	if h.gate != nil {
		select {
		case <-h.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.fail
}

func (h *hw[T]) setFail(err error) {
	h.mu.Lock()
	h.fail = err
	h.mu.Unlock()
}

func (h *hw[T]) WriteNumber(ctx context.Context, v float64) error {
	return any(h).(*hw[float64]).write(ctx, v)
}
func (h *hw[T]) WriteBool(ctx context.Context, v bool) error { return any(h).(*hw[bool]).write(ctx, v) }

// next returns the next write, failing the test after a deadline.
func (h *hw[T]) next(t *testing.T) T {
	t.Helper()
	return testbus.Wait(t, h.writes, "a hardware write")
}

// none checks that no write is pending.
func (h *hw[T]) none(t *testing.T) {
	t.Helper()
	select {
	case v := <-h.writes:
		t.Fatalf("unexpected write %v", v)
	default:
	}
}

type record struct {
	msg   string
	attrs map[string]any
}

type logHandler struct{ ch chan record }

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.Any(); return true })
	select {
	case h.ch <- rec:
	default:
	}
	return nil
}
func (h *logHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logHandler) WithGroup(string) slog.Handler      { return h }

// env: the actuators live on module "hw"; module "ui" writes them.
type env struct {
	h     *testbus.Hub
	a, ui *ipc.Bus
	logs  chan record
}

func newEnv(t *testing.T) *env {
	e := &env{h: testbus.New(t), logs: make(chan record, 100)}
	e.a = e.h.BusWith("hw", plumb.BusOptions{Logger: slog.New(&logHandler{ch: e.logs})})
	e.ui = e.h.BusWith("ui", plumb.BusOptions{Logger: slog.New(slog.DiscardHandler)})
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	if err := e.h.Setup("hw", nil); err != nil {
		t.Fatal(err)
	}
	e.h.Run()
}

func (e *env) nextLog(t *testing.T, msg string) record {
	t.Helper()
	for {
		if r := testbus.Wait(t, e.logs, "log "+msg); r.msg == msg {
			return r
		}
	}
}

func (e *env) set(t *testing.T, id string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.ui.Set(ctx, id, v); err != nil {
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

func TestBoolWritesInOrderAndSafeOnStop(t *testing.T) {
	e := newEnv(t)
	drv := newHW[bool]()
	relay := actuators.NewBool(e.a, "relay", "Relay", drv, actuators.Safe(false))
	if err := relay.Err(); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	if v := drv.next(t); v != false {
		t.Fatalf("starting state %v, want the safe state", v)
	}
	for _, v := range []bool{true, false, true} {
		e.set(t, "relay", v) // from another module
		if got := drv.next(t); got != v {
			t.Fatalf("wrote %v, want %v", got, v)
		}
	}
	if !relay.Value().Value() || relay.Fault() != nil || relay.Value().ID() != "relay" || !relay.Value().IsInput() {
		t.Fatalf("value %v, fault %v", relay.Value().Value(), relay.Fault())
	}
	e.h.Stop("hw")
	if v := drv.next(t); v != false {
		t.Fatalf("wrote %v at the stop, want the safe state", v)
	}
	drv.none(t)
	if relay.Writes() != 5 {
		t.Fatalf("%d writes", relay.Writes())
	}
}

func TestNumberInitialRangeAndLatestWins(t *testing.T) {
	e := newEnv(t)
	drv := newHW[float64]()
	drv.gate = make(chan struct{})
	pwm := actuators.NewNumber(e.a, "pwm", "PWM", drv, actuators.Safe(0), actuators.Initial(50),
		actuators.Values(values.Unit("%"), values.Range(0, 100)))
	if err := pwm.Err(); err != nil {
		t.Fatal(err)
	}
	if u := pwm.Value().Unit(); u != "%" {
		t.Fatalf("unit %q", u)
	}
	// Subscribed after the actuator: a change reaches this callback after
	// the actuator's (callbacks run in order on the dispatch goroutine).
	seen := make(chan float64, 100)
	pwm.Value().OnChange(func(_ context.Context, v float64) { seen <- v })
	e.start(t)
	if v := drv.next(t); v != 50 {
		t.Fatalf("starting state %v, want Initial", v)
	}
	// The start's write is in flight: the changes that come meanwhile pile
	// up, and only the latest is written.
	for _, v := range []float64{10, 20, 30} {
		e.set(t, "pwm", v)
	}
	if err := e.ui.Set(context.Background(), "pwm", 150.0); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("out of range write: %v", err)
	}
	for v := 0.0; v != 30; {
		v = testbus.Wait(t, seen, "the actuator to see the changes")
	}
	drv.gate <- struct{}{} // the start's write returns
	if v := drv.next(t); v != 30 {
		t.Fatalf("wrote %v after the piled-up writes, want the latest (30)", v)
	}
	drv.gate <- struct{}{}
	drv.none(t)
	// The stop waits for the write in flight, then writes the safe state.
	e.set(t, "pwm", 70)
	if v := drv.next(t); v != 70 {
		t.Fatalf("wrote %v", v)
	}
	stopped := make(chan struct{})
	go func() { e.h.Stop("hw"); close(stopped) }()
	select {
	case v := <-drv.writes:
		t.Fatalf("wrote %v while a write was in flight", v)
	case <-stopped:
		t.Fatal("the stop did not wait for the write in flight")
	case drv.gate <- struct{}{}: // the write in flight returns
	}
	if v := drv.next(t); v != 0 {
		t.Fatalf("wrote %v at the stop, want the safe state 0", v)
	}
	drv.gate <- struct{}{}
	testbus.Wait(t, stopped, "the stop")
}

// Changes that pile up during a write and end on the content being
// written are not written again once it returns.
func TestChangesBackToTheWriteInFlightAreNotWritten(t *testing.T) {
	e := newEnv(t)
	drv := newHW[float64]()
	drv.gate = make(chan struct{})
	pwm := actuators.NewNumber(e.a, "pwm", "PWM", drv, actuators.Initial(50), actuators.Values(values.Range(0, 100)))
	if err := pwm.Err(); err != nil {
		t.Fatal(err)
	}
	seen := make(chan float64, 100)
	pwm.Value().OnChange(func(_ context.Context, v float64) { seen <- v })
	e.start(t)
	if v := drv.next(t); v != 50 {
		t.Fatalf("starting state %v, want Initial", v)
	}
	for _, v := range []float64{10, 20, 50} {
		e.set(t, "pwm", v)
		for testbus.Wait(t, seen, "the actuator to see the change") != v {
		}
	}
	drv.gate <- struct{}{} // the start's write returns
	// The next change is the next write: 50 was not written again.
	e.set(t, "pwm", 70)
	if v := drv.next(t); v != 70 {
		t.Fatalf("wrote %v after a change back to the content in flight, want the next change (70)", v)
	}
	drv.gate <- struct{}{}
}

func TestFailedWritesAreReported(t *testing.T) {
	e := newEnv(t)
	drv := newHW[bool]()
	errStuck := errors.New("relay stuck")
	drv.setFail(errStuck)
	relay := actuators.NewBool(e.a, "relay", "Relay", drv)
	e.start(t)
	drv.none(t) // neither Initial nor Safe: nothing written at the start
	e.set(t, "relay", true)
	drv.next(t)
	r := e.nextLog(t, "actuator write failed")
	if err, _ := r.attrs["error"].(error); !errors.Is(err, errStuck) || r.attrs["actuator"] != "relay" {
		t.Fatalf("log %+v", r)
	}
	if !errors.Is(relay.Fault(), errStuck) {
		t.Fatalf("fault %v", relay.Fault())
	}
	mustContain(t, relay.Fault(), `"relay"`, "write true", "relay stuck")
	if !relay.Value().Value() {
		t.Fatal("the value does not keep what was asked")
	}
	drv.setFail(nil)
	e.set(t, "relay", false)
	drv.next(t)
	e.nextLog(t, "actuator recovered")
	if relay.Fault() != nil {
		t.Fatalf("fault %v after a good write", relay.Fault())
	}
	// A driver that panics is a failed write, not a crash.
	p := actuators.NewNumber(e.a, "p", "P", actuators.NumberFunc(func(context.Context, float64) error { panic("wire came loose") }))
	if err := p.Set(1); err != nil {
		t.Fatal(err)
	}
	r = e.nextLog(t, "actuator write failed")
	mustContain(t, r.attrs["error"].(error), `"p"`, "panicked", "wire came loose")
}

func TestCreationErrors(t *testing.T) {
	e := newEnv(t)
	drv := newHW[float64]()
	cases := []struct {
		name string
		a    interface{ Err() error }
		subs []string
	}{
		{"safe out of range", actuators.NewNumber(e.a, "a1", "A", drv, actuators.Safe(200), actuators.Values(values.Range(0, 100))), []string{`"a1"`, "200"}},
		{"safe of the wrong type", actuators.NewNumber(e.a, "a2", "A", drv, actuators.Safe(true)), []string{`"a2"`, "safe state", "bool"}},
		{"initial of the wrong type", actuators.NewBool(e.a, "a3", "A", newHW[bool](), actuators.Initial(1.0)), []string{`"a3"`, "initial state"}},
		{"nil driver", actuators.NewBool(e.a, "a4", "A", nil), []string{`"a4"`, "nil driver"}},
		{"bad id", actuators.NewBool(e.a, "bad id!", "A", newHW[bool]()), []string{"bad id!"}},
		{"bad timeout", actuators.NewBool(e.a, "a5", "A", newHW[bool](), actuators.WriteTimeout(0)), []string{`"a5"`, "timeout"}},
		{"nil safe", actuators.NewBool(e.a, "a6", "A", newHW[bool](), actuators.Safe(nil)), []string{`"a6"`, "nil"}},
	}
	for _, c := range cases {
		mustContain(t, c.a.Err(), c.subs...)
	}
	if err := e.h.Setup("hw", nil); err == nil {
		t.Fatal("the module's setup did not fail")
	}
	a := actuators.NewNumber(e.a, "a7", "A", drv, actuators.Safe(true))
	if a.Value() == nil || a.Set(1) == nil || a.Fault() == nil {
		t.Fatal("an actuator whose creation failed must be usable and report its error")
	}
}
