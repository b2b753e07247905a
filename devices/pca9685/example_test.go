package pca9685_test

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/devices/pca9685"
)

// An LED strip's dimmer on channel 0 and a servo on channel 15. On a Pi:
// d, err := pca9685.Open(bus, pca9685.DefaultAddr). A Channel or a Servo is
// an actuator's driver: actuators.NewNumber(bus, "servo", "Servo", servo,
// actuators.Safe(90)) lets the dashboard's slider turn it. Here, a
// simulated chip.
func Example() {
	d := pca9685.Fake()
	ctx := context.Background()
	led := d.Channel(0)
	if err := led.WriteNumber(ctx, 25); err != nil { // 25 % duty cycle
		fmt.Println(err)
		return
	}
	servo, err := d.Servo(15) // 0..180°, 0.5..2.5 ms, centre 1.5 ms
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := servo.WriteNumber(ctx, 90); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("LED %.0f %%, servo pulse %.2f ms every %.1f ms\n",
		d.Chip.Duty(0), d.Chip.Pulse(15).Seconds()*1000, d.Period().Seconds()*1000)
	fmt.Println(servo.WriteNumber(ctx, 200))
	// Output:
	// LED 25 %, servo pulse 1.50 ms every 20.0 ms
	// pca9685 at fake-I2C address 0x40: servo on channel 15: angle 200° out of 0..180°
}
