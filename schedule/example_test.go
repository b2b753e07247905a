package schedule_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/schedule"
)

// A module polls something every 10 ms, three times, from when the
// application runs.
func Example() {
	done := make(chan struct{})
	poller := kervi.Module{Name: "poller", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		n := 0
		job := schedule.Run(bus, schedule.Every(10*time.Millisecond), func(ctx context.Context) error {
			n++
			fmt.Println("poll", n)
			return nil
		}, schedule.StopWhen(func() bool { return n == 3 }))
		go func() { <-job.Done(); close(done) }()
		return job.Err() // or nil: a schedule that cannot be made fails the setup
	}}
	app, err := kervi.NewApplication([]kervi.Module{poller}, kervi.InProcess(),
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() { <-done; stop() }()
	if err := app.Run(ctx); err != nil {
		panic(err)
	}
	// Output:
	// poll 1
	// poll 2
	// poll 3
}

func ExampleAt() {
	oslo, _ := time.LoadLocation("Europe/Oslo")
	fmt.Println(schedule.At("07:30"))
	fmt.Println(schedule.At("07:30").In(oslo))
	fmt.Println(schedule.Daily(22, 0))
	fmt.Println(schedule.At("7.30").Err())
	// Output:
	// daily at 07:30
	// daily at 07:30 Europe/Oslo
	// daily at 22:00
	// schedule: time of day "7.30" is not written "15:04" or "15:04:05"
}
