// Package sensors is the fan example's sensor module: the CPU load, read
// every second.
package sensors

import (
	"context"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/devices/system"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

// Module runs the sensors in a process of their own.
var Module = kervi.Module{Name: "sensors", Setup: Setup}

// Setup creates the sensor with id "cpu_load".
func Setup(ctx context.Context, bus *ipc.Bus) error {
	_, err := sensors.New(bus, "cpu_load", "CPU", system.NewCPULoad())
	return err
}
