package gpio

import (
	"context"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"github.com/kervi/kervi-go/sensors"
)

// Counter counts the edges of an input pin: the pulses of a flow meter, an
// anemometer or a rain gauge. It is a sensors.Driver and a sensors.Watcher
// whose reading is the number of edges since the module started; each edge
// emits the new count, so a sensor made with sensors.Interval(0) publishes
// every pulse without polling:
//
//	sensors.New(bus, "rain", "Rain gauge", gpio.NewCounter(p, gpio.PullUp, gpio.FallingEdge), sensors.Interval(0))
type Counter struct {
	pin  gpio.PinIn
	pull gpio.Pull
	edge gpio.Edge

	mu sync.Mutex
	n  float64
}

// NewCounter returns a counter of the edges edge (gpio.RisingEdge,
// gpio.FallingEdge or gpio.BothEdges) of pin p, set up with pull when it
// starts watching.
func NewCounter(p gpio.PinIn, pull gpio.Pull, edge gpio.Edge) *Counter {
	return &Counter{pin: p, pull: pull, edge: edge}
}

// Describe describes a count of pulses, from 0.
func (c *Counter) Describe() sensors.Description {
	return sensors.Description{Unit: "pulses", Min: new(0.0)}
}

// Read reads the count so far.
func (c *Counter) Read(ctx context.Context, dst []float64) error {
	if len(dst) != 1 {
		return fmt.Errorf("gpio: counter: %d numbers asked of a one-dimension driver", len(dst))
	}
	c.mu.Lock()
	dst[0] = c.n
	c.mu.Unlock()
	return nil
}

// Watch sets the pin up, emits the count (0 at first), then the new count
// at each edge, until ctx ends.
func (c *Counter) Watch(ctx context.Context, emit func([]float64)) error {
	if c.pin == nil {
		return fmt.Errorf("gpio: counter: nil pin")
	}
	if c.edge == gpio.NoEdge {
		return &PinError{Pin: c.pin.Name(), Err: fmt.Errorf("a counter needs edges")}
	}
	if err := c.pin.In(c.pull, c.edge); err != nil {
		return pinErr(c.pin.Name(), "set up as counter", err)
	}
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	emit([]float64{n})
	for ctx.Err() == nil {
		if !c.pin.WaitForEdge(edgeWait) {
			continue
		}
		c.mu.Lock()
		c.n++
		n = c.n
		c.mu.Unlock()
		emit([]float64{n})
	}
	return nil
}
