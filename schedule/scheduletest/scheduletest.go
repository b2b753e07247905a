// Package scheduletest provides a fake clock for tests of scheduled work:
// time moves only when the test says so, so the tests never sleep.
//
//	clock := scheduletest.NewClock(time.Date(2025, 3, 30, 0, 0, 0, 0, berlin))
//	job := schedule.Run(bus, schedule.At("02:30").In(berlin), work, schedule.WithClock(clock))
//	...
//	clock.WaitTimers(ctx, 1) // the schedule waits for its next run
//	clock.Advance(3 * time.Hour)
package scheduletest

import (
	"context"
	"sync"
	"time"

	"github.com/kervi/kervi-go/schedule"
)

// Clock is a schedule.Clock whose time moves only with Advance and Set.
// Its methods are safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*timer]bool // waiting timers
	changed chan struct{}   // closed and replaced when timers change
}

var _ schedule.Clock = (*Clock)(nil)

// NewClock returns a clock that reads now until moved.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, timers: make(map[*timer]bool), changed: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock has moved d ahead.
func (c *Clock) NewTimer(d time.Duration) schedule.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers[t] = true
	c.notifyLocked()
	return t
}

// Advance moves the clock d ahead, firing the timers due by then.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the clock to t, firing the timers due by then. Moving it back
// fires nothing, as the wall clock set back would.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	for tm := range c.timers {
		if !tm.at.After(t) {
			delete(c.timers, tm)
			tm.ch <- t
		}
	}
	c.notifyLocked()
}

// Timers returns how many timers wait.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitTimers waits until at least n timers wait, that is until the
// schedules under test wait for their next runs; then moving the clock
// fires them. It fails when ctx ends first.
func (c *Clock) WaitTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Clock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

type timer struct {
	c  *Clock
	at time.Time
	ch chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if !t.c.timers[t] {
		return false
	}
	delete(t.c.timers, t)
	t.c.notifyLocked()
	return true
}
