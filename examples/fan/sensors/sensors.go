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

// Module runs the sensors in a process of their own; its setup creates the
// sensor with id "cpu_load".
var Module = kervi.Module{Name: "sensors", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	return sensors.New(bus, "cpu_load", "CPU", system.NewCPULoad()).Err()
}}
