package system_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/devices/system"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
)

// A module's setup publishes the machine's CPU load, memory use and disk
// use, each read every 5 seconds once the module has started.
func Example() {
	setup := func(ctx context.Context, bus *ipc.Bus) error {
		for _, s := range []struct {
			id, name string
			drv      sensors.Driver
		}{
			{"system.cpu", "CPU load", system.NewCPULoad()},
			{"system.memory", "Memory use", system.NewMemoryUse()},
			{"system.disk", "Disk use", system.NewDiskUse("/")},
		} {
			sensors.New(bus, s.id, s.name, s.drv, sensors.Interval(5*time.Second), sensors.Delta(0.5))
		}
		return nil // the first sensor that could not be made fails the setup
	}
	// In an application, kervi runs the module; here, a test hub.
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("system", setup); err != nil {
		fmt.Println(err)
	}
}

func ExampleCPULoad() {
	load := system.NewCPULoad()
	dst := make([]float64, 1)
	// Each read measures the load since the previous one; the first since
	// boot. A sensor spaces the reads by its interval.
	if err := load.Read(context.Background(), dst); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("CPU load since boot: %.0f%%\n", dst[0])
}
