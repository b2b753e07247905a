package gpio_test

// GPIO across real processes. The test binary is also the binary of the
// module processes: TestMain serves a module when kervi started the binary
// as one. Module "io" owns fake pins (periph's gpiotest): a button, whose
// edges an action fakes, an LED and a fan on PWM, whose pins note what
// they are driven to in $KERVI_GPIO_DIR/pins.log. Module "ctl" follows the
// button in its own process and switches the LED.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/actuators"
	kgpio "github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

const envDir = "KERVI_GPIO_DIR"

func TestMain(m *testing.M) {
	if kervi.IsModuleProcess() {
		app, err := newApp(os.Getenv(envDir))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		app.Run(context.Background()) // never returns in a module process
	}
	os.Exit(m.Run())
}

// notingPin is a fake pin that appends each level or duty cycle it is
// driven to, as "<pin>=<level or duty>", to a file.
type notingPin struct {
	gpiotest.Pin
	path string
	mu   sync.Mutex
}

func (p *notingPin) note(s string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "%s=%s\n", p.N, s)
	return f.Close()
}

func (p *notingPin) Out(l gpio.Level) error {
	if err := p.Pin.Out(l); err != nil {
		return err
	}
	return p.note(l.String())
}

func (p *notingPin) PWM(d gpio.Duty, f physic.Frequency) error {
	if err := p.Pin.PWM(d, f); err != nil {
		return err
	}
	return p.note(fmt.Sprintf("%.1f%%@%s", float64(d)*100/float64(gpio.DutyMax), f))
}

func newApp(dir string) (*kervi.Application, error) {
	log := filepath.Join(dir, "pins.log")
	io := kervi.Module{Name: "io", Setup: func(ctx context.Context, b *ipc.Bus) error {
		button := &gpiotest.Pin{N: "GPIO17", Num: 17, EdgesChan: make(chan gpio.Level)}
		kgpio.NewInput(b, "button", "Button", button, kgpio.Pull(gpio.PullDown))
		kgpio.NewOutput(b, "led", "LED", &notingPin{Pin: gpiotest.Pin{N: "GPIO27", Num: 27}, path: log}, actuators.Safe(false))
		kgpio.NewPWM(b, "fan", "Fan", &notingPin{Pin: gpiotest.Pin{N: "GPIO12", Num: 12}, path: log}, 25*physic.KiloHertz, actuators.Safe(0))
		// The finger on the button: an edge of the fake pin.
		actions.Register(b, "io.press", func(ctx context.Context, down bool) error {
			l := gpio.Low
			if down {
				l = gpio.High
			}
			select {
			case button.EdgesChan <- l:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		return nil
	}}
	ctl := kervi.Module{Name: "ctl", Setup: func(ctx context.Context, b *ipc.Bus) error {
		pressed := values.NewBool(b, "ctl.pressed", "Pressed")
		if _, err := pressed.Link("button", nil); err != nil {
			return err
		}
		pressed.OnChange(func(ctx context.Context, on bool) {
			if err := b.Set(ctx, "led", on); err != nil {
				b.Logger().Error("set led", "error", err)
			}
		})
		return nil
	}}
	return kervi.NewApplication([]kervi.Module{io, ctl}, kervi.WithName("gpio-test"), kervi.WithModuleEnv(envDir+"="+dir))
}

// waitPins waits until the pins' log has line as its last line for the
// pin line names, and returns the log.
func waitPins(t *testing.T, dir, line string) []string {
	t.Helper()
	pin, _, _ := strings.Cut(line, "=")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "pins.log"))
		lines := strings.Fields(string(b))
		last := ""
		for _, l := range lines {
			if strings.HasPrefix(l, pin+"=") {
				last = l
			}
		}
		if last == line {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("pins: %q, want %s last for its pin", lines, line)
		}
		time.Sleep(5 * time.Millisecond) // polling a file: no event to wait for
	}
}

// TestPinsAcrossProcesses: an edge of the button's pin (in module "io")
// is a value event in the test's process and in module "ctl", which
// switches the LED of module "io" by a write; a write from the test's
// process drives the fan's PWM.
func TestPinsAcrossProcesses(t *testing.T) {
	testbus.SkipIfCannotExecSelf(t)
	dir := t.TempDir()
	app, err := newApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := testbus.Wait(t, errc, "Run to return"); err != nil {
			t.Error(err)
		}
		// The stop put the LED and the fan in their safe states.
		waitPins(t, dir, "GPIO27=Low")
		waitPins(t, dir, "GPIO12=0.0%@25kHz")
	}()
	if err := app.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	bus := app.Bus()
	events := make(chan bool, 10)
	if _, err := bus.Subscribe("button", func(ev ipc.Event) { events <- ev.Value.Bool() }); err != nil {
		t.Fatal(err)
	}
	if got := testbus.Wait(t, events, "the button's first value"); got {
		t.Fatal("the button starts pressed")
	}
	cctx, ccancel := context.WithTimeout(ipc.NewContext(ctx, bus), 10*time.Second)
	defer ccancel()
	for _, down := range []bool{true, false, true} {
		if _, err := actions.Call(cctx, "io.press", down); err != nil {
			t.Fatal(err)
		}
		if got := testbus.Wait(t, events, "the button's event"); got != down {
			t.Fatalf("pressed %v, the event says %v", down, got)
		}
		level := "Low"
		if down {
			level = "High"
		}
		waitPins(t, dir, "GPIO27="+level) // through module ctl
	}
	if err := bus.Set(cctx, "fan", 40.0); err != nil {
		t.Fatal(err)
	}
	waitPins(t, dir, "GPIO12=40.0%@25kHz")
}
