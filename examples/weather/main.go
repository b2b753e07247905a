// Command weather is a small weather station run by kervi: a BME280 for
// the air (temperature, pressure, humidity), a DS18B20 in a water tank, a
// relay on a GPIO pin switching the tank's heater, and a servo turning a
// vane (a shutter, a pointer), with a dashboard to watch and drive them.
//
//	go run ./examples/weather
//
// then open the URL it logs (http://127.0.0.1:8765 by default).
//
// On a laptop every device is a fake (package devices/host decides: no
// supported board, so fakes, said loudly in the log); KERVI_DEVICES=fake
// forces fakes anywhere, KERVI_DEVICES=real forbids them. On a Raspberry
// Pi the real chips are used, and a missing one stops the program with an
// error naming its bus and address. Wiring assumed on the Pi (enable I2C
// and 1-wire with raspi-config, or dtparam=i2c_arm=on and
// dtoverlay=w1-gpio in /boot/config.txt):
//
//   - BME280 on I2C1 (SDA GPIO2, SCL GPIO3) at 0x76 (-bme280 0x77 if its
//     SDO pin is high);
//   - DS18B20 data on GPIO4 with a 4.7 kΩ pull-up to 3.3 V; the first
//     thermometer the kernel lists is used (-ds18b20 28-... picks one);
//   - relay board input on GPIO17 (-relay; -relay-active-low for boards
//     that switch on a low input);
//   - servo on channel 0 (-servo) of a PCA9685 at 0x40 (-pca9685), on the
//     same I2C bus.
//
// The application has three modules, each in its own process: "station"
// (the sensors), "outputs" (the relay and the servo, as actuators whose
// safe state, heater off and vane centred, is applied when the module
// stops or its parent dies) and "dashboard". Press Ctrl-C to stop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"strconv"
	"time"

	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/devices/bmxx80"
	kbus "github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/ds18b20"
	"github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/devices/host"
	"github.com/kervi/kervi-go/devices/pca9685"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

// Flags; the module processes run this binary again with the same
// arguments, so each module sees what the parent was given.
var (
	devices    = flag.String("devices", "auto", "real, fake or auto (fakes only where no supported board is found); $KERVI_DEVICES overrides")
	i2cName    = flag.String("i2c", "", "I2C bus of the BME280 and the PCA9685 (\"\" for the first, \"1\" for /dev/i2c-1)")
	bmeAddr    = flag.String("bme280", "0x76", "I2C address of the BME280 (0x76 or 0x77)")
	dsID       = flag.String("ds18b20", "", "sysfs id of the DS18B20 (28-...); empty for the first one listed")
	relayPin   = flag.String("relay", "GPIO17", "GPIO pin of the heater's relay")
	relayLow   = flag.Bool("relay-active-low", false, "the relay switches on a low input")
	pcaAddr    = flag.String("pca9685", "0x40", "I2C address of the PCA9685")
	servoCh    = flag.Int("servo", 0, "PCA9685 channel of the vane's servo")
	listenAddr = flag.String("addr", dashboard.DefaultAddr, "address of the dashboard (port 0: any free port)")
	interval   = flag.Duration("interval", 2*time.Second, "how often the sensors are read")
)

// panel places a component on the main dashboard's panel p.
func panel(p, widget string, order int) layout.Placement {
	return layout.Placement{Panel: p, Widget: widget, Order: order}
}

// setupHost applies -devices and $KERVI_DEVICES in a module's process.
func setupHost(bus *ipc.Bus) (host.Info, error) {
	mode, err := host.ParseMode(*devices)
	if err != nil {
		return host.Info{}, err
	}
	return host.Setup(bus, mode)
}

// openI2C opens the I2C bus for the module's life.
func openI2C(bus *ipc.Bus) (i2c.Bus, error) {
	b, err := kbus.OpenI2C(*i2cName)
	if err != nil {
		return nil, err
	}
	bus.OnStop(func(context.Context) error { return b.Close() })
	return b, nil
}

// station reads the air and the water.
var station = kervi.Module{Name: "station", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	hw, err := setupHost(bus)
	if err != nil {
		return err
	}
	addr, err := strconv.ParseUint(*bmeAddr, 0, 16)
	if err != nil {
		return fmt.Errorf("-bme280 %q: %w", *bmeAddr, err)
	}
	air, err := host.Choose[sensors.Driver](hw, fmt.Sprintf("bme280 on i2c bus %q at %#x", *i2cName, addr),
		func() (sensors.Driver, error) {
			b, err := openI2C(bus)
			if err != nil {
				return nil, err
			}
			dev, err := bmxx80.Open(b, uint16(addr), bmxx80.Want(bmxx80.BME280))
			if err != nil {
				return nil, err
			}
			bus.OnStop(func(context.Context) error { return dev.Close() })
			return dev, nil
		},
		func() sensors.Driver { return bmxx80.Fake(bmxx80.BME280) })
	if err != nil {
		return err
	}
	water, err := host.Choose[sensors.Driver](hw, "ds18b20 on the kernel's 1-wire bus",
		func() (sensors.Driver, error) {
			id := *dsID
			if id == "" {
				ids, err := ds18b20.SysfsIDs()
				if err != nil {
					return nil, err
				}
				if len(ids) == 0 {
					return nil, errors.New("ds18b20: no 1-wire thermometer in " + ds18b20.DefaultSysfsRoot +
						" (is it wired to GPIO4 with a pull-up, and dtoverlay=w1-gpio in /boot/config.txt?)")
				}
				id = ids[0]
			}
			return ds18b20.OpenSysfs(id)
		},
		func() sensors.Driver { return ds18b20.Fake() })
	if err != nil {
		return err
	}
	sensors.New(bus, "air", "Air", air, sensors.Interval(*interval),
		layout.Sensor(panel("weather", layout.WidgetChart, 1)))
	sensors.New(bus, "water", "Water", water, sensors.Interval(max(*interval, time.Second)),
		layout.Sensor(panel("weather", layout.WidgetGauge, 2)))
	return nil
}}

// outputs drives the heater's relay and the vane's servo.
var outputs = kervi.Module{Name: "outputs", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	hw, err := setupHost(bus)
	if err != nil {
		return err
	}
	pin, err := host.Choose(hw, "relay on pin "+*relayPin,
		func() (pgpio.PinIO, error) { return gpio.Pin(*relayPin) },
		func() pgpio.PinIO { return &gpiotest.Pin{N: *relayPin} })
	if err != nil {
		return err
	}
	heater := actuators.NewBool(bus, "heater", "Heater", gpio.OutputDriver{Pin: pin, ActiveLow: *relayLow},
		actuators.Safe(false), actuators.Values(layout.Value(panel("controls", layout.WidgetSwitch, 1))))
	if err := heater.Err(); err != nil {
		return err
	}

	addr, err := strconv.ParseUint(*pcaAddr, 0, 16)
	if err != nil {
		return fmt.Errorf("-pca9685 %q: %w", *pcaAddr, err)
	}
	pca, err := host.Choose(hw, fmt.Sprintf("pca9685 on i2c bus %q at %#x", *i2cName, addr),
		func() (*pca9685.Dev, error) {
			b, err := openI2C(bus)
			if err != nil {
				return nil, err
			}
			return pca9685.Open(b, uint16(addr))
		},
		func() *pca9685.Dev { return pca9685.Fake().Dev })
	if err != nil {
		return err
	}
	servo, err := pca.Servo(*servoCh)
	if err != nil {
		return err
	}
	lo, hi := servo.Angles()
	vane := actuators.NewNumber(bus, "vane", "Vane", servo, actuators.Safe(servo.Centre()),
		actuators.Values(values.Unit("°"), values.Range(lo, hi), layout.Value(panel("controls", layout.WidgetSlider, 2))))
	return vane.Err()
}}

func main() {
	flag.Parse()
	app, err := kervi.NewApplication([]kervi.Module{station, outputs, dashboard.Module(dashboard.Addr(*listenAddr))},
		kervi.WithName("weather"))
	if err != nil {
		log.Fatal(err)
	}
	app.Main() // until SIGINT or SIGTERM; a module process serves its module
}
