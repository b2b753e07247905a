package scheduletest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/schedule/scheduletest"
)

// A test makes its schedules take their time from a fake clock
// (schedule.WithClock(clock)), waits until they wait for their next run,
// and moves the clock to make them run: no test sleeps.
func ExampleClock() {
	clock := scheduletest.NewClock(time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC))
	timer := clock.NewTimer(time.Hour) // what a schedule does
	if err := clock.WaitTimers(context.Background(), 1); err != nil {
		panic(err)
	}
	clock.Advance(30 * time.Minute)
	fmt.Println(clock.Timers(), "timer waits")
	clock.Advance(30 * time.Minute)
	fmt.Println("fired at", (<-timer.C()).Format(time.TimeOnly))
	// Output:
	// 1 timer waits
	// fired at 01:00:00
}
