// Package host prepares the machine's hardware for a module's devices:
// periph's host drivers (Init), what board the module runs on (Detect),
// and whether a device is the real chip or a fake (Mode, Choose).
//
// Nothing here touches hardware at import. A module calls Setup (or Init)
// in its setup function, which runs in the module's own process:
//
//	func setup(ctx context.Context, b *ipc.Bus) error {
//		hw, err := host.Setup(b, host.Auto)
//		if err != nil {
//			return err
//		}
//		dev, err := host.Choose(hw, "bme280 on i2c bus 1 at 0x76",
//			func() (*bmxx80.Dev, error) { return bmxx80.Open(...) },
//			func() *bmxx80.FakeDev { return bmxx80.Fake() })
//		...
//	}
//
// # Real or fake
//
// Real opens every device and fails where one cannot be opened. Fake
// makes every device a fake (see package devices/fake), which needs no
// hardware. Auto, the default, uses fakes only where no supported board is
// detected at all (a laptop, a CI runner), and says so loudly in the log;
// on a detected board (a Raspberry Pi or any board with a device tree) it
// is Real: a missing or miswired chip is an error naming its bus and
// address, never silently replaced by a fake. The environment variable
// KERVI_DEVICES (fake, real or auto) overrides the mode a program asks
// for, so the same program runs with fakes on a laptop and on a Pi.
package host

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	periphhost "periph.io/x/host/v3"
	"periph.io/x/host/v3/distro"
	"periph.io/x/host/v3/rpi"

	"github.com/kervi/kervi-go/ipc"
)

var initOnce = sync.OnceValues(periphhost.Init)

// Init loads periph's host drivers (periph.io/x/host/v3's Init) the first
// time it is called, and returns the same result on every call: it is safe
// to call from several constructors and goroutines. It opens nothing by
// itself but reads what the host has (/sys, /dev, /proc); call it from a
// module's setup, never at import. An error means a driver failed in a
// way periph does not skip; drivers for hardware the host lacks are
// skipped, not errors.
func Init() (*driverreg.State, error) {
	st, err := initOnce()
	if err != nil {
		return st, fmt.Errorf("host: periph host init: %w", err)
	}
	return st, nil
}

// Board says what the module runs on.
type Board struct {
	// Model is the board's model from the device tree, such as
	// "Raspberry Pi 4 Model B Rev 1.4"; "" when the machine has no device
	// tree (a PC).
	Model string
	// Pi reports a Raspberry Pi.
	Pi bool
}

// Supported reports whether the board is one periph can drive the GPIO,
// I2C, SPI and 1-wire of: a Raspberry Pi, or another board with a device
// tree (periph's allwinner, beagle, odroid, pine64 drivers, or the
// kernel's generic gpiochip, i2c-dev and spidev interfaces).
func (b Board) Supported() bool { return b.Pi || b.Model != "" }

// String describes the board for logs.
func (b Board) String() string {
	switch {
	case b.Model != "":
		return b.Model
	case b.Pi:
		return "Raspberry Pi"
	}
	return "no supported board (no device tree)"
}

var detectOnce = sync.OnceValue(func() Board {
	b := Board{Pi: rpi.Present()}
	if m := distro.DTModel(); m != "<unknown>" {
		b.Model = strings.TrimSpace(m)
	}
	if strings.HasPrefix(b.Model, "Raspberry Pi") {
		b.Pi = true
	}
	return b
})

// Detect returns the board the process runs on. It reads files of /proc
// and /sys the first time and caches the result.
func Detect() Board { return detectOnce() }

// Mode selects real or fake devices.
type Mode int

const (
	// Auto uses fakes only where no supported board is detected.
	Auto Mode = iota
	// Real opens the real devices, failing where one cannot be opened.
	Real
	// Fake makes every device a fake.
	Fake
)

// EnvMode is the environment variable that, when set to "auto", "real" or
// "fake", overrides the mode a program passes to Setup.
const EnvMode = "KERVI_DEVICES"

// String returns "auto", "real" or "fake".
func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case Real:
		return "real"
	case Fake:
		return "fake"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "auto", "real" or "fake" (any case).
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto":
		return Auto, nil
	case "real":
		return Real, nil
	case "fake":
		return Fake, nil
	}
	return Auto, fmt.Errorf("host: device mode %q is not auto, real or fake", s)
}

// Info is what Choose needs to select devices: the mode, the board and
// where to log. Setup returns it; tests may build one.
type Info struct {
	Mode  Mode
	Board Board
	// Logger receives the loud line about fakes; nil means slog.Default().
	Logger *slog.Logger
}

// Fakes reports whether devices are fakes: in Fake mode, and in Auto mode
// where no supported board is detected.
func (i Info) Fakes() bool {
	return i.Mode == Fake || i.Mode == Auto && !i.Board.Supported()
}

func (i Info) logger() *slog.Logger {
	if i.Logger != nil {
		return i.Logger
	}
	return slog.Default()
}

// Setup prepares a module's devices, in its setup function: it applies
// $KERVI_DEVICES over mode, detects the board and, unless the devices are
// fakes, runs Init. When they are fakes it logs a warning saying so and
// why (on the bus's logger, which the application's log shows).
func Setup(bus *ipc.Bus, mode Mode) (Info, error) {
	if env := os.Getenv(EnvMode); env != "" {
		m, err := ParseMode(env)
		if err != nil {
			return Info{}, fmt.Errorf("%w (from $%s)", err, EnvMode)
		}
		mode = m
	}
	info := Info{Mode: mode, Board: Detect()}
	if bus != nil {
		info.Logger = bus.Logger()
	}
	if mode < Auto || mode > Fake {
		return info, fmt.Errorf("host: unknown device mode %v", mode)
	}
	if info.Fakes() {
		info.logger().Warn("DEVICES ARE FAKES: readings are simulated and writes go nowhere", "mode", mode, "board", info.Board.String(),
			"why", why(info))
		return info, nil
	}
	if _, err := Init(); err != nil {
		return info, err
	}
	return info, nil
}

func why(i Info) string {
	if i.Mode == Fake {
		return "fake mode asked for (option or $" + EnvMode + ")"
	}
	return "auto mode and no supported board detected; set $" + EnvMode + "=real to insist on hardware"
}

// Choose returns the device what ("bme280 on i2c bus 1 at 0x76"): made by
// fake if info says devices are fakes (Info.Fakes), logged as a warning
// naming it; otherwise opened by open, whose error is returned as it is
// (it names the bus and address) and never replaced by a fake.
func Choose[D any](info Info, what string, open func() (D, error), fake func() D) (D, error) {
	if info.Fakes() {
		info.logger().Warn("FAKE DEVICE: "+what, "device", what, "mode", info.Mode, "board", info.Board.String())
		return fake(), nil
	}
	return open()
}
