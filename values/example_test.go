package values_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

func ExampleNewNumber() {
	// In an application the bus comes from kervi; here, from a test hub.
	h := ipctest.New()
	defer h.Close()
	bus, _ := h.Connect("heating")

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
	h := ipctest.New()
	defer h.Close()
	sensorsBus, _ := h.Connect("sensors")
	controlBus, _ := h.Connect("controllers")

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
