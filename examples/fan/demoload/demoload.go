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
)

// Module runs the load in a process of its own.
var Module = kervi.Module{Name: "demoload", Setup: Setup}

// Period is the length of one wave of load.
const Period = 20 * time.Second

// Setup starts the load when the module starts; it stops with the module.
func Setup(ctx context.Context, bus *ipc.Bus) error {
	bus.OnStart(func(context.Context) error {
		bus.Go(run)
		return nil
	})
	return nil
}

// run keeps a core busy for duty(t) of every 100 ms slice.
func run(ctx context.Context) {
	start := time.Now()
	const slice = 100 * time.Millisecond
	for ctx.Err() == nil {
		t := time.Since(start)
		duty := (1 - math.Cos(2*math.Pi*t.Seconds()/Period.Seconds())) / 2
		busyUntil := time.Now().Add(time.Duration(duty * float64(slice)))
		for time.Now().Before(busyUntil) {
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration((1 - duty) * float64(slice))):
		}
	}
}
