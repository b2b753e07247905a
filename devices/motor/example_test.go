package motor_test

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/devices/motor"
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
