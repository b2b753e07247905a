// Package bus opens the I²C, SPI and 1-wire buses of the host through
// periph's registries (i2creg, spireg, onewirereg), after periph's host
// init (devices/host.Init), with errors that name the bus and say what to
// do; and it gives chip packages one way to name a bus and an address in
// their errors (Error, I2CError).
//
// Bus names are periph's: "" for the first bus of its kind, a number ("1"
// for /dev/i2c-1), or a name or alias such as "I2C1", "/dev/i2c-1",
// "SPI0.0" or "/dev/spidev0.0". Open buses in a module's setup, never at
// import.
package bus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/kervi/kervi-go/devices/host"
)

// Kinds of bus, as Error names them.
const (
	I2C     = "i2c"
	SPI     = "spi"
	OneWire = "1-wire"
)

// Error is an error of a device on a bus, or of the bus itself: it names
// the chip (if known), the kind of bus, the bus and the address on it (if
// any). Chip packages return it, or wrap it, so that a user reads which
// wire to check.
type Error struct {
	Chip    string // "bme280"; "" for an error of the bus itself
	Kind    string // I2C, SPI or OneWire
	Bus     string // the bus's name, as given or as periph names it
	Addr    uint64 // the device's address on the bus, if HasAddr
	HasAddr bool
	Err     error
}

// Error returns, for instance, `bme280 on i2c bus "1" at address 0x76: no
// device answered (NACK)`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Chip != "" {
		b.WriteString(e.Chip)
		b.WriteString(" on ")
	}
	fmt.Fprintf(&b, "%s bus %q", e.Kind, e.Bus)
	if e.HasAddr {
		if e.Kind == OneWire {
			fmt.Fprintf(&b, " at address %#016x", e.Addr)
		} else {
			fmt.Fprintf(&b, " at address %#x", e.Addr)
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// I2CError returns err as an *Error of chip at addr on the I²C bus
// busName, or nil if err is nil. An error that is an *Error already is
// returned as it is.
func I2CError(chip, busName string, addr uint16, err error) error {
	return wrap(chip, I2C, busName, uint64(addr), true, err)
}

// SPIError returns err as an *Error of chip on the SPI port busName, or
// nil if err is nil.
func SPIError(chip, busName string, err error) error {
	return wrap(chip, SPI, busName, 0, false, err)
}

// OneWireError returns err as an *Error of chip at addr on the 1-wire bus
// busName, or nil if err is nil; addr 0 means no address.
func OneWireError(chip, busName string, addr onewire.Address, err error) error {
	return wrap(chip, OneWire, busName, uint64(addr), addr != 0, err)
}

func wrap(chip, kind, name string, addr uint64, hasAddr bool, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Chip: chip, Kind: kind, Bus: name, Addr: addr, HasAddr: hasAddr, Err: err}
}

// Name returns the name of a bus for errors: its String, periph's name.
func Name(b fmt.Stringer) string {
	if b == nil {
		return "<nil>"
	}
	return b.String()
}

// ErrNoBus matches the error of opening a bus the host does not have.
var ErrNoBus = errors.New("no such bus on this host")

// ErrPermission matches the error of opening a bus the process may not
// use.
var ErrPermission = errors.New("permission denied")

// OpenI2C opens the I²C bus name ("" for the first, "1" for /dev/i2c-1),
// after periph's host init. Close it when done.
func OpenI2C(name string) (i2c.BusCloser, error) {
	if _, err := host.Init(); err != nil {
		return nil, &Error{Kind: I2C, Bus: name, Err: err}
	}
	b, err := i2creg.Open(name)
	if err != nil {
		return nil, &Error{Kind: I2C, Bus: name, Err: explain(I2C, err, i2cNames())}
	}
	return b, nil
}

// SPIOption configures an SPI port opened by OpenSPI.
type SPIOption func(p spi.PortCloser) error

// MaxSpeed limits the port's clock to f (periph's LimitSpeed), for long
// wires; a chip's own maximum applies as well.
func MaxSpeed(f physic.Frequency) SPIOption {
	return func(p spi.PortCloser) error {
		if f <= 0 {
			return fmt.Errorf("max speed %v is not positive", f)
		}
		return p.LimitSpeed(f)
	}
}

// OpenSPI opens the SPI port name ("" for the first, "0.0" or
// "/dev/spidev0.0" for bus 0 with chip select 0), after periph's host
// init, and applies opts. Chip drivers call Connect on it with their mode
// and speed. Close it when done.
func OpenSPI(name string, opts ...SPIOption) (spi.PortCloser, error) {
	if _, err := host.Init(); err != nil {
		return nil, &Error{Kind: SPI, Bus: name, Err: err}
	}
	p, err := spireg.Open(name)
	if err != nil {
		return nil, &Error{Kind: SPI, Bus: name, Err: explain(SPI, err, spiNames())}
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			p.Close()
			return nil, &Error{Kind: SPI, Bus: name, Err: err}
		}
	}
	return p, nil
}

// OpenOneWire opens the 1-wire bus name ("" for the first), after periph's
// host init. On Linux periph reaches the kernel's 1-wire masters (w1-gpio
// on a Pi) through netlink. Close it when done.
func OpenOneWire(name string) (onewire.BusCloser, error) {
	if _, err := host.Init(); err != nil {
		return nil, &Error{Kind: OneWire, Bus: name, Err: err}
	}
	b, err := onewirereg.Open(name)
	if err != nil {
		return nil, &Error{Kind: OneWire, Bus: name, Err: explain(OneWire, err, oneWireNames())}
	}
	return b, nil
}

// explain turns periph's error of opening a bus into one that says what
// to do, matching ErrNoBus or ErrPermission where it is one of those.
func explain(kind string, err error, have []string) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied") || strings.Contains(msg, "are you member"):
		return &hint{err: err, kind: ErrPermission, hint: "add the user to group " + group(kind) + " (then log in again)"}
	case strings.Contains(msg, "no bus found") || strings.Contains(msg, "no port found") || strings.Contains(msg, "unknown") ||
		strings.Contains(msg, "not configured") || strings.Contains(msg, "no such file"):
		h := "buses on this host: none"
		if len(have) > 0 {
			h = "buses on this host: " + strings.Join(have, ", ")
		}
		return &hint{err: err, kind: ErrNoBus, hint: h + "; " + enable(kind)}
	}
	return err
}

func group(kind string) string {
	switch kind {
	case I2C:
		return "i2c"
	case SPI:
		return "spi"
	}
	return "gpio"
}

func enable(kind string) string {
	switch kind {
	case I2C:
		return "on a Raspberry Pi enable I2C (raspi-config, or dtparam=i2c_arm=on in config.txt) and reboot"
	case SPI:
		return "on a Raspberry Pi enable SPI (raspi-config, or dtparam=spi=on in config.txt) and reboot"
	}
	return "on a Raspberry Pi enable 1-Wire (raspi-config, or dtoverlay=w1-gpio in config.txt) and reboot"
}

// hint is an error with advice; it matches kind and wraps err.
type hint struct {
	err  error
	kind error
	hint string
}

func (h *hint) Error() string   { return h.kind.Error() + " (" + h.err.Error() + "); " + h.hint }
func (h *hint) Unwrap() []error { return []error{h.kind, h.err} }

func i2cNames() []string {
	var s []string
	for _, r := range i2creg.All() {
		s = append(s, refName(r.Name, r.Number))
	}
	return s
}

func spiNames() []string {
	var s []string
	for _, r := range spireg.All() {
		s = append(s, refName(r.Name, r.Number))
	}
	return s
}

func oneWireNames() []string {
	var s []string
	for _, r := range onewirereg.All() {
		s = append(s, refName(r.Name, r.Number))
	}
	return s
}

func refName(name string, number int) string {
	if number >= 0 {
		return name + " (" + strconv.Itoa(number) + ")"
	}
	return name
}
