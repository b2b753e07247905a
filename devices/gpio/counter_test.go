package gpio_test

import (
	"context"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	kgpio "github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/sensors"
)

func TestCounterPublishesEachPulse(t *testing.T) {
	e := newEnv(t)
	p := &gpiotest.Pin{N: "GPIO6", Num: 6, EdgesChan: make(chan gpio.Level)}
	events := e.watch(t, "rain")
	c := kgpio.NewCounter(p, gpio.PullUp, gpio.FallingEdge)
	s := sensors.New(e.a, "rain", "Rain gauge", c, sensors.Interval(0))
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.h.Setup("io", nil); err != nil {
		t.Fatal(err)
	}
	if n := testbus.Wait(t, events, "the first count").Value.Number(); n != 0 {
		t.Fatalf("first count %v", n)
	}
	for want := 1.0; want <= 3; want++ {
		p.EdgesChan <- gpio.Low
		if n := testbus.Wait(t, events, "a count").Value.Number(); n != want {
			t.Fatalf("count %v, want %v", n, want)
		}
	}
	if p.Pull() != gpio.PullUp {
		t.Fatalf("pull %v", p.Pull())
	}
	dst := make([]float64, 1)
	if err := c.Read(context.Background(), dst); err != nil || dst[0] != 3 {
		t.Fatalf("Read %v, %v", dst, err)
	}
	e.h.Stop("io")
}
