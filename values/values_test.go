package values_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// twoBuses returns the buses of two modules on one hub; errs receives the
// errors reported to the second one.
// twoBuses returns the buses of two modules of a running application.
func twoBuses(t *testing.T) (a, b *ipc.Bus, errs chan error) {
	t.Helper()
	h := testbus.New(t)
	errs = make(chan error, 100)
	a = h.Bus("sensors", nil)
	b = h.Bus("controllers", errs)
	h.Run()
	return a, b, errs
}

func TestNumberRange(t *testing.T) {
	a, _, _ := twoBuses(t)
	n := values.NewNumber(a, "temp", "Temperature", values.Range(0, 150), values.Unit("°C"))
	if err := n.Err(); err != nil {
		t.Fatal(err)
	}
	if err := n.Set(42); err != nil || n.Value() != 42 {
		t.Fatalf("Set(42): %v, value %v", err, n.Value())
	}
	err := n.Set(151)
	if !errors.Is(err, ipc.ErrOutOfRange) || !strings.Contains(err.Error(), `"temp"`) || !strings.Contains(err.Error(), "[0, 150]") {
		t.Fatalf("Set(151) = %v", err)
	}
	if n.Value() != 42 {
		t.Fatalf("refused write changed the value to %v", n.Value())
	}
	if u := n.Unit(); u != "°C" {
		t.Fatalf("unit %q", u)
	}
}

func TestNumberClampAndDelta(t *testing.T) {
	a, _, _ := twoBuses(t)
	c := values.NewNumber(a, "c", "C", values.Range(0, 100), values.Clamp())
	if err := c.Set(120); err != nil || c.Value() != 100 {
		t.Fatalf("clamp: %v %v", err, c.Value())
	}
	d := values.NewNumber(a, "d", "D", values.Delta(10))
	var got []float64
	done := make(chan struct{})
	d.OnChange(func(ctx context.Context, v float64) {
		got = append(got, v)
		if v == -1 {
			close(done)
		}
	})
	for _, v := range []float64{0, 5, 9.9, 10, 15, 20, 20, -1} {
		d.Set(v)
	}
	testbus.Wait(t, done, "changes")
	want := []float64{0, 10, 20, -1} // 5, 9.9 and 15 are within 10 of the last published; 20 repeats
	if len(got) != len(want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("published %v, want %v", got, want)
		}
	}
}

func TestLinkAcrossModules(t *testing.T) {
	h := testbus.New(t)
	errs := make(chan error, 100)
	a := h.Bus("sensors", nil)
	b := h.Bus("controllers", errs)
	// The input links before its source exists: start order must not matter.
	var temp *values.Number
	changes := make(chan float64, 10)
	must(t, h.Setup("controllers", func(ctx context.Context, b *ipc.Bus) (err error) {
		temp = values.NewNumber(b, "fan_controller.temp", "Temperature", values.Range(0, 150))
		temp.OnChange(func(ctx context.Context, v float64) { changes <- v })
		_, err = temp.Link("cpu_load", func(v float64) float64 { return v * 2 })
		return err
	}))
	var load *values.Number
	must(t, h.Setup("sensors", func(ctx context.Context, b *ipc.Bus) (err error) {
		load = values.NewNumber(b, "cpu_load", "CPU", values.Output(), values.Range(0, 100))
		return nil
	}))
	h.Start()
	load.Set(30)
	if v := testbus.Wait(t, changes, "linked change"); v != 60 {
		t.Fatalf("linked value %v, want 60", v)
	}
	load.Set(80) // 160 is out of temp's range: refused and reported
	err := testbus.Wait(t, errs, "refused update")
	if !errors.Is(err, ipc.ErrOutOfRange) || !strings.Contains(err.Error(), "fan_controller.temp") || !strings.Contains(err.Error(), "cpu_load") {
		t.Fatalf("reported %v", err)
	}
	if temp.Value() != 60 {
		t.Fatalf("refused update changed the value to %v", temp.Value())
	}
	// Another process sets the input by id, validated the same way.
	if err := a.Set(context.Background(), "fan_controller.temp", 10); err != nil {
		t.Fatal(err)
	}
	if v := testbus.Wait(t, changes, "set"); v != 10 {
		t.Fatalf("after set %v", v)
	}
	if err := a.Set(context.Background(), "fan_controller.temp", true); !errors.Is(err, ipc.ErrWrongType) {
		t.Fatalf("wrong type set: %v", err)
	}
	if err := b.Set(context.Background(), "cpu_load", 1); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("set of an output: %v", err)
	}
}

func TestOptionsMisuse(t *testing.T) {
	a, _, _ := twoBuses(t)
	if err := values.NewBool(a, "b", "B", values.Unit("V")).Err(); err == nil || !strings.Contains(err.Error(), "Unit") || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("bool with unit: %v", err)
	}
	if err := values.NewNumber(a, "n", "N", values.Range(0, 10), values.Initial(11)).Err(); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("initial out of range: %v", err)
	}
	if err := values.NewNumber(a, "n2", "N", values.Initial("x")).Err(); err == nil {
		t.Fatal("string initial for a number accepted")
	}
	if err := values.NewEnum(a, "e", "E").Err(); err == nil {
		t.Fatal("enum without options accepted")
	}
	if err := values.NewNumber(a, "bad id", "N").Err(); !errors.Is(err, ipc.ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}
	if err := values.NewNumber(a, "dup", "N").Err(); err != nil {
		t.Fatal(err)
	}
	if err := values.NewBool(a, "dup", "N").Err(); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("duplicate: %v", err)
	}
}

// A setup that creates values and checks none of their errors fails with
// the first one, which errors.Is still matches; the values whose creation
// failed are usable and return their error.
func TestSetupFailsWithTheFirstError(t *testing.T) {
	h := testbus.New(t)
	h.Bus("m", nil)
	var good *values.Number
	var bad *values.Number
	var dup *values.Bool
	var enum *values.Enum
	err := h.Setup("m", func(ctx context.Context, b *ipc.Bus) error {
		good = values.NewNumber(b, "good", "Good", values.Initial(1))
		bad = values.NewNumber(b, "bad id", "Bad", values.Initial(2))
		dup = values.NewBool(b, "good", "Again")
		enum = values.NewEnum(b, "e", "E")
		return nil
	})
	if !errors.Is(err, ipc.ErrInvalidID) || !strings.Contains(err.Error(), `"bad id"`) {
		t.Fatalf("setup error %v, want the first: the invalid id", err)
	}
	if good.Err() != nil || good.Value() != 1 {
		t.Fatalf("good value: %v %v", good.Err(), good.Value())
	}
	if !errors.Is(dup.Err(), ipc.ErrDuplicateID) || enum.Err() == nil {
		t.Fatalf("later errors not kept on their values: %v, %v", dup.Err(), enum.Err())
	}
	// The failed value does nothing and says why.
	if bad.ID() != "bad id" || bad.Name() != "Bad" || bad.Type() != ipc.TypeNumber || bad.Any() != nil || bad.Value() != 0 {
		t.Fatalf("failed value: %q %q %v %v", bad.ID(), bad.Name(), bad.Type(), bad.Any())
	}
	if err := bad.Set(3); err != bad.Err() || bad.Check(3) != bad.Err() {
		t.Fatalf("Set on a failed value: %v", err)
	}
	if _, err := bad.Link("good", nil); err != bad.Err() {
		t.Fatalf("Link on a failed value: %v", err)
	}
	sub := bad.OnChange(func(context.Context, float64) {})
	sub.Close() // does nothing
	if sub.ID() != "" || bad.Followed() {
		t.Fatal("a failed value follows something")
	}
}

// A value created once the setup is over reports its error to the bus's
// error handler too, and the module keeps running.
func TestErrorAtRunTimeIsReported(t *testing.T) {
	_, b, errs := twoBuses(t)
	v := values.NewNumber(b, "x", "X", values.Range(1, 0))
	if err := testbus.Wait(t, errs, "reported error"); err != v.Err() || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("reported %v, value's error %v", err, v.Err())
	}
	if b.Err() != v.Err() {
		t.Fatalf("bus error %v", b.Err())
	}
	values.NewNumber(b, "y", "Y", values.Range(1, 0))
	if err := testbus.Wait(t, errs, "second reported error"); !strings.Contains(err.Error(), `"y"`) {
		t.Fatalf("reported %v", err)
	}
	if b.Err() != v.Err() {
		t.Fatalf("bus error %v, want the first", b.Err())
	}
}

func TestEnumColorDateTimeString(t *testing.T) {
	a, b, _ := twoBuses(t)
	ctx := context.Background()
	mode := values.NewEnum(a, "mode", "Mode", values.Choices("off", "low", "high"), values.Initial("off"))
	if err := mode.Err(); err != nil {
		t.Fatal(err)
	}
	a.Flush(ctx)
	if err := mode.Set("turbo"); !errors.Is(err, ipc.ErrOutOfRange) || !strings.Contains(err.Error(), "turbo") {
		t.Fatalf("bad option: %v", err)
	}
	if err := b.Set(ctx, "mode", "high"); err != nil || mode.Value() != "high" {
		t.Fatalf("remote set: %v %v", err, mode.Value())
	}
	col := values.NewColor(a, "led", "LED", values.Initial("#ff8000"))
	when := values.NewDateTime(a, "alarm", "Alarm")
	a.Flush(ctx) // the hub knows the new ids
	if col.Value() != (values.RGB{R: 255, G: 128}) {
		t.Fatalf("color %v", col.Value())
	}
	if err := b.Set(ctx, "led", "#00ff00"); err != nil || col.Value().String() != "#00ff00" {
		t.Fatalf("remote color: %v %v", err, col.Value())
	}
	if err := b.Set(ctx, "led", "green"); !errors.Is(err, ipc.ErrWrongType) {
		t.Fatalf("bad color: %v", err)
	}
	if when.Any() != nil {
		t.Fatal("datetime without content has content")
	}
	at := time.Date(2026, 11, 26, 7, 30, 0, 0, time.UTC)
	if err := b.Set(ctx, "alarm", at); err != nil || !when.Value().Equal(at) {
		t.Fatalf("remote datetime: %v %v", err, when.Value())
	}
	s := values.NewString(a, "msg", "Message", values.Output())
	s.Set("hello")
	ev := make(chan ipc.Event, 1)
	b.Subscribe("msg", func(e ipc.Event) { ev <- e })
	if e := testbus.Wait(t, ev, "string event"); e.Value.Text() != "hello" || e.Value.Type() != ipc.TypeString {
		t.Fatalf("event %+v", e)
	}
}

func TestRestartedModuleRestoresValues(t *testing.T) {
	h := testbus.New(t)
	watch := h.Bus("watcher", nil)
	seen := make(chan float64, 10)
	watch.Subscribe("speed", func(ev ipc.Event) { seen <- ev.Value.Number() })
	watch.Flush(context.Background())

	// The first process of module "ctl" sets speed to 42, then dies.
	ctl := h.Bus("ctl", nil)
	var speed *values.Number
	must(t, h.Setup("ctl", func(ctx context.Context, b *ipc.Bus) error {
		speed = values.NewNumber(b, "speed", "Speed", values.Initial(0), values.Output())
		return nil
	}))
	testbus.Eventually(t, "the watcher's interest", speed.Followed)
	if v := testbus.Wait(t, seen, "initial value"); v != 0 {
		t.Fatalf("initial %v", v)
	}
	speed.Set(42)
	ctl.Flush(context.Background())
	testbus.Wait(t, seen, "42")
	h.Crash("ctl")

	// Its next process starts from 42, not from the initial 0, and
	// publishes it again.
	h.Bus("ctl", nil)
	if err := h.Setup("ctl", func(ctx context.Context, b *ipc.Bus) error {
		speed = values.NewNumber(b, "speed", "Speed", values.Initial(0), values.Output())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if speed.Value() != 42 {
		t.Fatalf("restored %v", speed.Value())
	}
	if v := testbus.Wait(t, seen, "republished value"); v != 42 {
		t.Fatalf("republished %v", v)
	}
}
