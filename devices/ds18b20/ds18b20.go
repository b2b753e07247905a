// Package ds18b20 reads Maxim's DS18B20 1-wire thermometer (and its
// relatives DS1822 and DS18S20) as a sensor of one dimension in °C, within
// the datasheet's range -55..125 °C.
//
// Two routes lead to the chip, and both are offered:
//
//   - Sysfs (OpenSysfs): the Linux kernel's w1 driver, which Raspberry Pi
//     users enable with "dtoverlay=w1-gpio" in /boot/config.txt (data on
//     GPIO4 with a 4.7 kΩ pull-up). The kernel runs the bus and lists each
//     chip as /sys/bus/w1/devices/28-xxxxxxxxxxxx; reading its w1_slave file
//     converts and reports the temperature. This is what Pi tutorials set
//     up, it needs no root, and it is the route to use on a Pi.
//   - A periph 1-wire bus (Open): any periph onewire.Bus, such as a DS2482
//     I²C-to-1-wire bridge (periph.io/x/devices/v3/ds248x); it wraps
//     periph's driver (periph.io/x/devices/v3/ds18b20).
//
// A conversion takes up to 750 ms at 12 bits of resolution (0.0625 °C),
// the chip's power-on default; poll no faster than once a second.
package ds18b20

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	pds18b20 "periph.io/x/devices/v3/ds18b20"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/devices/internal/chip"
	"github.com/kervi/kervi-go/sensors"
)

// The datasheet's measuring range, in °C.
const (
	MinTemperature = -55
	MaxTemperature = 125
)

// The family codes (the low byte of a 1-wire address, and the prefix of a
// sysfs id) of the chips this package reads.
const (
	FamilyDS18S20 = 0x10
	FamilyDS1822  = 0x22
	FamilyDS18B20 = 0x28
)

// Description is the description of every chip of this package: one
// dimension in °C within -55..125.
func Description() sensors.Description {
	lo, hi := chip.Bounds(MinTemperature, MaxTemperature)
	return sensors.Description{Unit: "°C", Min: lo, Max: hi}
}

// Option configures Open and OpenSysfs.
type Option func(*config) error

type config struct {
	bits int
	root string
}

// Resolution sets the resolution of a chip opened with Open: 9 (0.5 °C,
// 94 ms a conversion) to 12 bits (0.0625 °C, 750 ms). A DS18S20 has 12
// only. A different resolution than the chip's is written to its EEPROM.
// Default: 12. With OpenSysfs, the kernel keeps the chip's resolution and
// this option is refused.
func Resolution(bits int) Option {
	return func(c *config) error {
		if bits < 9 || bits > 12 {
			return fmt.Errorf("resolution %d bits is outside 9..12", bits)
		}
		c.bits = bits
		return nil
	}
}

// SysfsRoot sets the directory of the kernel's 1-wire devices for
// OpenSysfs. Default: /sys/bus/w1/devices.
func SysfsRoot(dir string) Option {
	return func(c *config) error {
		c.root = dir
		return nil
	}
}

// DefaultSysfsRoot is where Linux lists 1-wire devices.
const DefaultSysfsRoot = "/sys/bus/w1/devices"

// Dev is an opened thermometer. It implements sensors.Driver; its methods
// are safe for concurrent use.
type Dev struct {
	name  string // "ds18b20 on 1-wire bus ... at address 0x..." or "ds18b20 at <sysfs path>"
	wrap  func(error) error
	read  func() (float64, error)
	run   chip.Runner
	close func() error
}

var _ sensors.Driver = (*Dev)(nil)

func family(f byte) error {
	switch f {
	case FamilyDS18S20, FamilyDS1822, FamilyDS18B20:
		return nil
	}
	return fmt.Errorf("family code %#02x is none of DS18B20 (0x28), DS1822 (0x22), DS18S20 (0x10)", f)
}

// Open opens the chip at addr on the 1-wire bus b through periph's
// driver, checking its family code and that it answers. Errors name the
// bus and the address.
func Open(b onewire.Bus, addr onewire.Address, opts ...Option) (*Dev, error) {
	cfg := config{bits: 12}
	wrap := func(err error) error { return bus.OneWireError("ds18b20", bus.Name(b), addr, err) }
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, wrap(err)
		}
	}
	if cfg.root != "" {
		return nil, wrap(errors.New("SysfsRoot is for OpenSysfs"))
	}
	if err := family(byte(addr)); err != nil {
		return nil, wrap(err)
	}
	if byte(addr) == FamilyDS18S20 {
		cfg.bits = 12
	}
	dev, err := pds18b20.New(b, addr, cfg.bits)
	if err != nil {
		return nil, wrap(err)
	}
	d := &Dev{name: fmt.Sprintf("ds18b20 on 1-wire bus %q at address 0x%016x", bus.Name(b), uint64(addr)), wrap: wrap, close: dev.Halt}
	d.read = func() (float64, error) {
		var e physic.Env
		if err := dev.Sense(&e); err != nil {
			return 0, err
		}
		c := e.Temperature.Celsius()
		if c == 85 {
			// periph means to refuse it, but compares a temperature
			// with a temperature difference and lets it through.
			return 0, errPowerOn
		}
		return c, nil
	}
	return d, nil
}

// OpenSysfs opens the chip the kernel lists as id (such as
// "28-0316a2793fff") under /sys/bus/w1/devices. It checks the family code
// and that the chip's w1_slave file exists. Errors name the path.
func OpenSysfs(id string, opts ...Option) (*Dev, error) {
	cfg := config{root: DefaultSysfsRoot}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("ds18b20 %s: %w", id, err)
		}
	}
	path := filepath.Join(cfg.root, id, "w1_slave")
	name := "ds18b20 at " + path
	if cfg.bits != 0 {
		return nil, fmt.Errorf("%s: Resolution is for Open: the kernel sets the resolution", name)
	}
	f, err := strconv.ParseUint(strings.SplitN(id, "-", 2)[0], 16, 8)
	if err != nil || !strings.Contains(id, "-") || strings.ContainsRune(id, '/') {
		return nil, fmt.Errorf("%s: id %q is not a 1-wire id such as 28-0316a2793fff", name, id)
	}
	if err := family(byte(f)); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such 1-wire device (is the chip wired and \"dtoverlay=w1-gpio\" in /boot/config.txt?): %w", name, err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &Dev{name: name, close: func() error { return nil }}
	d.wrap = func(err error) error { return fmt.Errorf("%s: %w", name, err) }
	d.read = func() (float64, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, err
		}
		return parseW1Slave(b)
	}
	return d, nil
}

// errPowerOn is the error of a reading of exactly 85 °C, the value the
// chip holds before its first conversion: a real 85 °C is refused too.
var errPowerOn = errors.New("85 °C is the power-on value: no conversion took place (insufficient power or pull-up?)")

// SysfsIDs returns the ids of the thermometers the kernel lists (their
// family codes are 0x28, 0x22 or 0x10), sorted, for OpenSysfs; none if
// there are none or the kernel has no 1-wire bus. Only the option
// SysfsRoot applies.
func SysfsIDs(opts ...Option) ([]string, error) {
	cfg := config{root: DefaultSysfsRoot}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("ds18b20: %w", err)
		}
	}
	entries, err := os.ReadDir(cfg.root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ds18b20: %w", err)
	}
	var ids []string
	for _, e := range entries {
		n := e.Name()
		for _, p := range []string{"28-", "22-", "10-"} {
			if strings.HasPrefix(n, p) {
				ids = append(ids, n)
			}
		}
	}
	return ids, nil // os.ReadDir sorts by name
}

// parseW1Slave parses the kernel's w1_slave file:
//
//	72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
//	72 01 4b 46 7f ff 0e 10 57 t=23125
func parseW1Slave(b []byte) (float64, error) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		return 0, fmt.Errorf("w1_slave: %d lines, want 2: %q", len(lines), b)
	}
	if !strings.HasSuffix(strings.TrimSpace(lines[0]), "YES") {
		return 0, fmt.Errorf("w1_slave: CRC check failed (a loose wire or a missing pull-up?): %q", lines[0])
	}
	_, t, ok := strings.Cut(lines[1], "t=")
	if !ok {
		return 0, fmt.Errorf("w1_slave: no t= in %q", lines[1])
	}
	milli, err := strconv.Atoi(strings.TrimSpace(t))
	if err != nil {
		return 0, fmt.Errorf("w1_slave: %w", err)
	}
	if f := strings.Fields(lines[1]); milli == 85000 && len(f) > 2 && f[0] == "50" && f[1] == "05" {
		return 0, fmt.Errorf("w1_slave: %w", errPowerOn)
	}
	return float64(milli) / 1000, nil
}

// String returns the chip's bus and address, or its sysfs path.
func (d *Dev) String() string { return d.name }

// Describe implements sensors.Driver: see Description.
func (d *Dev) Describe() sensors.Description { return Description() }

// Read implements sensors.Driver: it converts and reads the temperature
// in °C. If ctx ends first, Read returns ctx's error; the conversion then
// finishes in the background and the next Read waits for it.
func (d *Dev) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return d.wrap(fmt.Errorf("read into %d numbers, want 1", len(dst)))
	}
	var c float64
	err := d.run.Do(ctx, func() (err error) {
		c, err = d.read()
		return err
	})
	if err != nil {
		return d.wrap(fmt.Errorf("read: %w", err))
	}
	dst[0] = c
	return nil
}

// Close releases the chip (the bus belongs to the caller).
func (d *Dev) Close() error { return d.close() }

// Fake returns a simulated thermometer with the same description, for
// tests and for running without hardware: 18..24 °C, drifting over 15
// minutes.
func Fake() *fake.Driver {
	return chip.Waves(Description(), 15*time.Minute, chip.Range{Lo: 18, Hi: 24})
}
