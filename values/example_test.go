package values_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func ExampleNewNumber() {
	// In an application the bus comes from kervi; here, an in-process hub.
	hub := ipc.NewHub(ipc.HubOptions{})
	bus, _, _ := hub.Connect("heating", ipc.BusOptions{})
	defer bus.Kill()

	// A value that cannot be made (say, with Initial(40)) returns a usable
	// value and fails the module's setup with its error.
	temp := values.NewNumber(bus, "room.setpoint", "Set point",
		values.Unit("°C"), values.Range(5, 30), values.Initial(20))
	fmt.Println(temp.Value(), temp.Unit())
	err := temp.Set(45)
	fmt.Println(errors.Is(err, ipc.ErrOutOfRange), err)
	fmt.Println(temp.Value())
	// Output:
	// 20 °C
	// true kervi: "room.setpoint": 45 is outside the range [5, 30] (module "heating")
	// 20
}

func ExampleNumber_Link() {
	hub := ipc.NewHub(ipc.HubOptions{})
	sensorsBus, _, _ := hub.Connect("sensors", ipc.BusOptions{})
	controlBus, _, _ := hub.Connect("controllers", ipc.BusOptions{})
	defer sensorsBus.Kill()
	defer controlBus.Kill()

	// An input in one module follows a sensor value in another, by id, in
	// Fahrenheit.
	input := values.NewNumber(controlBus, "display.temp_f", "Temperature (°F)")
	got := make(chan float64, 10)
	input.OnChange(func(ctx context.Context, f float64) { got <- f })
	input.Link("room.temp", func(c float64) float64 { return c*9/5 + 32 })

	room := values.NewNumber(sensorsBus, "room.temp", "Room", values.Unit("°C"), values.Output())
	room.Set(21)
	fmt.Println(<-got)
	// Output: 69.8
}
