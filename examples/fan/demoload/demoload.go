// Package demoload is a module of the fan example that makes CPU load for
// the fan to follow: one core busy for a share of the time that rises and
// falls over a 20-second wave.
package demoload

import (
	"context"
	"math"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
)

// Period is the length of one wave of load; slice is how often the load
// runs.
const Period, slice = 20 * time.Second, 100 * time.Millisecond

// Module runs the load in a process of its own, from when the application
// runs until the module stops: every slice, a core is busy for a share of
// the slice that follows the wave.
var Module = kervi.Module{Name: "demoload", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	start := time.Now()
	return schedule.Run(bus, schedule.Every(slice), func(context.Context) error {
		duty := (1 - math.Cos(2*math.Pi*time.Since(start).Seconds()/Period.Seconds())) / 2
		// Busy for at most 95 % of the slice: a run that lasts longer than
		// the period makes the schedule skip the next one.
		for end := time.Now().Add(time.Duration(0.95 * duty * float64(slice))); time.Now().Before(end); {
		}
		return nil
	}).Err()
}}
