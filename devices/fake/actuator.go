package fake

import (
	"context"
	"fmt"
	"sync"
)

// Actuator is a fake output device: an actuators.NumberDriver and
// actuators.BoolDriver that records what it is written (a bool as 0 or 1),
// can fail on command, and lets tests wait for writes. A relay or a servo
// on a laptop. Its methods are safe for concurrent use.
type Actuator struct {
	mu      sync.Mutex
	writes  []float64
	err     error
	changed chan struct{} // closed and replaced at each write
}

// NewActuator returns a fake output device with no writes.
func NewActuator() *Actuator { return &Actuator{changed: make(chan struct{})} }

// WriteNumber records v, or fails with the error given to Fail (recording
// nothing) or ctx's error.
func (a *Actuator) WriteNumber(ctx context.Context, v float64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.writes = append(a.writes, v)
	close(a.changed)
	a.changed = make(chan struct{})
	return nil
}

// WriteBool records v as 1 (true) or 0 (false), as WriteNumber does.
func (a *Actuator) WriteBool(ctx context.Context, v bool) error {
	x := 0.0
	if v {
		x = 1
	}
	return a.WriteNumber(ctx, x)
}

// Fail makes writes fail with err until Fail(nil).
func (a *Actuator) Fail(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

// Writes returns the values written so far, in order.
func (a *Actuator) Writes() []float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]float64(nil), a.writes...)
}

// Last returns the last value written, and false if there was none.
func (a *Actuator) Last() (float64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.writes) == 0 {
		return 0, false
	}
	return a.writes[len(a.writes)-1], true
}

// WaitWrites waits until at least n values have been written, and returns
// them, or ctx's error if it ends first.
func (a *Actuator) WaitWrites(ctx context.Context, n int) ([]float64, error) {
	for {
		a.mu.Lock()
		w, changed := append([]float64(nil), a.writes...), a.changed
		a.mu.Unlock()
		if len(w) >= n {
			return w, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return w, fmt.Errorf("fake: waiting for write %d after %d: %w", n, len(w), ctx.Err())
		}
	}
}
