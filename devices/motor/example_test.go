package motor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/kervi/kervi-go/actuators"
	devbus "github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/host"
	"github.com/kervi/kervi-go/devices/motor"
	"github.com/kervi/kervi-go/devices/pca9685"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
	"periph.io/x/conn/v3/physic"
)

// Motor M1 of an Adafruit motor HAT. On a Pi:
//
//	p, err := pca9685.Open(bus, motor.AdafruitHATAddr, pca9685.Frequency(1600*physic.Hertz))
//	m, err := motor.NewDC(p, motor.AdafruitM1)
//	actuators.NewNumber(bus, "wheel", "Wheel", m, actuators.Safe(0),
//		actuators.Values(values.Unit("%"), values.Range(-100, 100)))
//
// Here, a simulated HAT.
func Example() {
	m := motor.Fake(motor.AdafruitM1)
	ctx := context.Background()
	for _, speed := range []float64{50, -25, 0} {
		if err := m.WriteNumber(ctx, speed); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("speed %g: bridge %+v\n", speed, m.Bridge())
	}
	// Output:
	// speed 50: bridge {Speed:50 Braking:false}
	// speed -25: bridge {Speed:-25 Braking:false}
	// speed 0: bridge {Speed:0 Braking:false}
}

// A module that drives motor M1 of an Adafruit motor HAT as an actuator:
// on a Raspberry Pi (host.Auto) it opens the PCA9685 on I2C bus 1, and a
// missing HAT fails the module's setup naming the bus and the address; on
// a laptop, or in Fake mode as here, the HAT is simulated, loudly logged.
func Example_module() {
	var sim *pca9685.FakeDev
	setup := func(ctx context.Context, bus *ipc.Bus) error {
		info, err := host.Setup(bus, host.Fake) // host.Auto in an application
		if err != nil {
			return err
		}
		freq := pca9685.Frequency(1600 * physic.Hertz)
		pca, err := host.Choose(info, "pca9685 on i2c bus 1 at address 0x60",
			func() (*pca9685.Dev, error) {
				b, err := devbus.OpenI2C("1")
				if err != nil {
					return nil, err
				}
				bus.OnStop(func(context.Context) error { return b.Close() })
				return pca9685.Open(b, motor.AdafruitHATAddr, freq)
			},
			func() *pca9685.Dev { sim = pca9685.Fake(freq); return sim.Dev })
		if err != nil {
			return err
		}
		m, err := motor.NewDC(pca, motor.AdafruitM1, motor.Name("left wheel"))
		if err != nil {
			return err
		}
		actuators.NewNumber(bus, "wheel", "Left wheel", m, actuators.Safe(0.0),
			actuators.Values(values.Unit("%"), values.Range(-100, 100)))
		return nil
	}

	h := ipctest.New(ipctest.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer h.Close()
	if _, err := h.Module("motors", setup); err != nil {
		fmt.Println(err)
		return
	}
	ui, _ := h.Module("ui", nil)
	ctx := context.Background()
	if err := h.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := ui.Set(ctx, "wheel", 50); err != nil { // as a dashboard slider does
		fmt.Println(err)
		return
	}
	for { // wait for the simulated HAT to take the write
		changed := sim.Chip.Changed()
		if b := motor.ReadBridge(sim.Chip, motor.AdafruitM1); b.Speed == 50 {
			fmt.Printf("bridge %+v\n", b)
			break
		}
		<-changed
	}
	// Output: bridge {Speed:50 Braking:false}
}
