package actuators_test

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// A relay that any process can switch by id, off when its module stops.
func Example() {
	h := ipctest.New()
	written := make(chan bool, 10)
	relay := actuators.BoolFunc(func(ctx context.Context, on bool) error {
		fmt.Println("relay on:", on) // a real driver writes a GPIO pin here
		written <- on
		return nil
	})
	_, err := h.Module("hw", func(ctx context.Context, bus *ipc.Bus) error {
		actuators.NewBool(bus, "heater.relay", "Heater", relay, actuators.Safe(false))
		actuators.NewNumber(bus, "fan.speed", "Fan", actuators.NumberFunc(func(context.Context, float64) error { return nil }),
			actuators.Safe(0), actuators.Values(values.Unit("%"), values.Range(0, 100)))
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	<-written // the start: the safe state
	ui, _ := h.Module("ui", nil)
	if err := h.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	if err := ui.Set(context.Background(), "heater.relay", true); err != nil {
		fmt.Println(err)
		return
	}
	<-written
	h.Close() // the module stops: the safe state again
	// Output:
	// relay on: false
	// relay on: true
	// relay on: false
}
