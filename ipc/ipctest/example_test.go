package ipctest_test

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// Two modules of an application, tested in one process: the pump module's
// action is called from the other module by id.
func Example() {
	h := ipctest.New()
	defer h.Close()

	pump, err := h.Module("pump", func(ctx context.Context, bus *ipc.Bus) error {
		running := values.NewBool(bus, "pump.running", "Running")
		actions.Register(bus, "pump.run", func(on bool) error { return running.Set(on) })
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ui, err := h.Module("ui", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := h.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	ctx := ipc.NewContext(context.Background(), ui)
	if _, err := actions.Call(ctx, "pump.run", true); err != nil {
		fmt.Println(err)
		return
	}
	ev, _ := pump.Last("pump.running")
	fmt.Println("pump.running:", ev.Value)
	// Output: pump.running: true
}
