package gpio_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/devices/bus"
	kgpio "github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/devices/host"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

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

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"GPIO17": "GPIO17", "gpio17": "GPIO17", "BCM17": "GPIO17", "17": "GPIO17", " P1_11 ": "GPIO17",
		"P1_3": "GPIO2", "P1_40": "GPIO21", "p1_27": "GPIO0", "GPIO4": "GPIO4", "XIO-P0": "XIO-P0",
	} {
		if got, err := kgpio.Normalize(in); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, sub := range map[string]string{"P1_1": "power or ground", "P1_6": "power or ground", "P1_41": "P1_1 to P1_40", "P1_x": "P1_1 to P1_40"} {
		_, err := kgpio.Normalize(in)
		if !errors.Is(err, kgpio.ErrNoPin) {
			t.Fatalf("Normalize(%q): %v", in, err)
		}
		mustContain(t, err, `"`+in+`"`, sub)
	}
}

// registerFake registers a fake GPIO17 (as periph's bcm283x driver would
// on a Pi) once host.Init has run.
func registerFake(t *testing.T) *gpiotest.Pin {
	t.Helper()
	if _, err := host.Init(); err != nil {
		t.Fatal(err)
	}
	if p, ok := gpioreg.ByName("GPIO17").(*gpiotest.Pin); ok {
		return p
	}
	p := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level, 10)}
	if err := gpioreg.Register(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPinByName(t *testing.T) {
	fake := registerFake(t)
	for _, name := range []string{"GPIO17", "BCM17", "17", "P1_11", "gpio17"} {
		p, err := kgpio.Pin(name)
		if err != nil || p != fake {
			t.Fatalf("Pin(%q) = %v, %v", name, p, err)
		}
	}
	_, err := kgpio.Pin("GPIO99")
	if !errors.Is(err, kgpio.ErrNoPin) {
		t.Fatalf("GPIO99: %v", err)
	}
	mustContain(t, err, `pin "GPIO99"`, "no such pin on this host")
	_, err = kgpio.Pin("P1_2")
	mustContain(t, err, `pin "P1_2"`, "power or ground")
}

type env struct {
	h     *testbus.Hub
	a, ui *ipc.Bus
}

func newEnv(t *testing.T) *env {
	e := &env{h: testbus.New(t)}
	e.a = e.h.BusWith("io", plumb.BusOptions{Logger: slog.New(slog.DiscardHandler)})
	e.ui = e.h.BusWith("ui", plumb.BusOptions{Logger: slog.New(slog.DiscardHandler)})
	return e
}

func (e *env) watch(t *testing.T, id string) <-chan ipc.Event {
	t.Helper()
	ch := make(chan ipc.Event, 100)
	if _, err := e.ui.Subscribe(id, func(ev ipc.Event) { ch <- ev }); err != nil {
		t.Fatal(err)
	}
	if err := e.ui.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ch
}

func nextBool(t *testing.T, ch <-chan ipc.Event) bool {
	t.Helper()
	return testbus.Wait(t, ch, "a value event").Value.Bool()
}

func TestInputFollowsEdges(t *testing.T) {
	e := newEnv(t)
	p := &gpiotest.Pin{N: "GPIO4", Num: 4, EdgesChan: make(chan gpio.Level)}
	events := e.watch(t, "button")
	in := kgpio.NewInput(e.a, "button", "Button", p, kgpio.Pull(gpio.PullUp), kgpio.ActiveLow())
	if err := in.Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Setup("io", nil); err != nil {
		t.Fatal(err)
	}
	if p.Pull() != gpio.PullUp {
		t.Fatalf("pull %v", p.Pull())
	}
	if nextBool(t, events) { // pulled up, active low: not pressed
		t.Fatal("the first value is true")
	}
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low} {
		p.EdgesChan <- l
		if got := nextBool(t, events); got != (l == gpio.Low) {
			t.Fatalf("edge to %v published %v", l, got)
		}
	}
	if !in.Value().Value() || in.Fault() != nil || in.Value().IsInput() {
		t.Fatal("value or fault")
	}
	e.h.Stop("io") // the edge goroutine ends with the module
}

func TestInputDebounce(t *testing.T) {
	e := newEnv(t)
	p := &gpiotest.Pin{N: "GPIO5", Num: 5, EdgesChan: make(chan gpio.Level)}
	events := e.watch(t, "switch")
	kgpio.NewInput(e.a, "switch", "Switch", p, kgpio.Pull(gpio.PullDown), kgpio.Debounce(300*time.Millisecond))
	if err := e.h.Setup("io", nil); err != nil {
		t.Fatal(err)
	}
	if nextBool(t, events) {
		t.Fatal("pulled down reads true")
	}
	// A bounce: each edge comes within the debounce time of the one
	// before (the channel is unbuffered: the input takes each as it comes).
	for _, l := range []gpio.Level{gpio.High, gpio.Low, gpio.High, gpio.Low, gpio.High} {
		p.EdgesChan <- l
	}
	if !nextBool(t, events) {
		t.Fatal("the settled level is high")
	}
	select {
	case ev := <-events:
		t.Fatalf("a bounce was published: %+v", ev)
	default:
	}
}

func TestInputErrors(t *testing.T) {
	e := newEnv(t)
	in := kgpio.NewInput(e.a, "b", "B", nil)
	mustContain(t, in.Err(), `"b"`, "nil pin")
	in = kgpio.NewInput(e.a, "c", "C", &gpiotest.Pin{N: "X"}, kgpio.Edges(gpio.NoEdge))
	mustContain(t, in.Err(), `"c"`, "edges")
	if in.Value() == nil || in.Value().Set(true) == nil {
		t.Fatal("a failed input's value must be usable and report the error")
	}
	mustContain(t, kgpio.NewInput(e.a, "d", "D", &gpiotest.Pin{N: "X"}, kgpio.Debounce(-1)).Err(), "debounce")

	// A pin that cannot be set up fails the module's start, naming it.
	e2 := newEnv(t)
	kgpio.NewInput(e2.a, "b", "B", &gpiotest.Pin{N: "GPIO6"}) // no EdgesChan: gpiotest refuses edges
	err := e2.h.Setup("io", nil)
	mustContain(t, err, `pin "GPIO6"`, "set up as input")
}

// deniedPin fails every write as a pin of /dev/gpiochip0 without access.
type deniedPin struct{ gpiotest.Pin }

func (p *deniedPin) Out(gpio.Level) error {
	return errors.New("gpioioctl: open /dev/gpiochip0: permission denied")
}

func TestOutputAndPWM(t *testing.T) {
	e := newEnv(t)
	relay := &gpiotest.Pin{N: "GPIO17", Num: 17}
	led := &gpiotest.Pin{N: "GPIO18", Num: 18}
	r := kgpio.NewOutput(e.a, "relay", "Relay", relay, actuators.Safe(false))
	pwm := kgpio.NewPWM(e.a, "led", "LED", led, 0, actuators.Safe(0))
	low := actuators.NewBool(e.a, "lowrelay", "Low relay", kgpio.OutputDriver{Pin: &gpiotest.Pin{N: "GPIO27"}, ActiveLow: true})
	denied := kgpio.NewOutput(e.a, "denied", "Denied", &deniedPin{Pin: gpiotest.Pin{N: "GPIO22"}})
	for _, err := range []error{r.Err(), pwm.Err(), low.Err(), denied.Err()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if u := pwm.Value().Unit(); u != "%" {
		t.Fatalf("unit %q", u)
	}
	if hi, _ := pwm.Value().Max(); hi != 100 {
		t.Fatalf("max %v", hi)
	}
	e.h.Run()
	ctx := context.Background()
	for _, set := range []struct {
		id string
		v  any
	}{{"relay", true}, {"led", 25.0}, {"lowrelay", true}, {"denied", true}} {
		if err := e.ui.Set(ctx, set.id, set.v); err != nil {
			t.Fatal(err)
		}
	}
	testbus.Eventually(t, "the relay's pin to go high", func() bool { return relay.Read() == gpio.High })
	testbus.Eventually(t, "the LED's duty cycle", func() bool {
		led.Lock()
		defer led.Unlock()
		return led.D == gpio.DutyMax/4 && led.F == kgpio.DefaultPWMFrequency
	})
	testbus.Eventually(t, "the denied write's fault", func() bool { return denied.Fault() != nil })
	err := denied.Fault()
	if !errors.Is(err, kgpio.ErrPermission) || !errors.Is(err, bus.ErrPermission) {
		t.Fatalf("fault %v: want it to match gpio.ErrPermission and bus.ErrPermission", err)
	}
	mustContain(t, err, `pin "GPIO22"`, "group gpio")
	e.h.Stop("io")
	if relay.Read() != gpio.Low {
		t.Fatal("the relay is not off after the stop")
	}
	led.Lock()
	defer led.Unlock()
	if led.D != 0 {
		t.Fatalf("duty %v after the stop", led.D)
	}
	if err := (kgpio.PWMDriver{Pin: led, Frequency: physic.KiloHertz}).WriteNumber(ctx, 101); err == nil {
		t.Fatal("a duty above 100% was written")
	}
}
