package gpio_test

import (
	"context"
	"fmt"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/kervi/kervi-go/actuators"
	kgpio "github.com/kervi/kervi-go/devices/gpio"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

// A relay on a pin, switched by a write from another module. On a Pi the
// pin would come from kgpio.Pin("GPIO17") (or "P1_11") in the setup.
func Example() {
	h := ipctest.New()
	defer h.Close()
	pin := &gpiotest.Pin{N: "GPIO17", Num: 17}
	var relay *actuators.Bool
	_, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		relay = kgpio.NewOutput(bus, "heater", "Heater", pin, actuators.Safe(false))
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ui, _ := h.Module("ui", nil)
	if err := h.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	if err := ui.Set(context.Background(), "heater", true); err != nil {
		fmt.Println(err)
		return
	}
	for relay.Writes() < 2 { // the start's, then this one
		h.Bus("hw").Flush(context.Background())
	}
	fmt.Println(pin.Read() == gpio.High)
	// Output: true
}

// Header positions name the same pins as Broadcom numbers.
func ExampleNormalize() {
	for _, name := range []string{"P1_11", "BCM17", "17", "P1_12"} {
		n, _ := kgpio.Normalize(name)
		fmt.Println(name, "is", n)
	}
	// Output:
	// P1_11 is GPIO17
	// BCM17 is GPIO17
	// 17 is GPIO17
	// P1_12 is GPIO18
}
