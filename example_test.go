package kervi_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func ExampleNewApplication() {
	// A module: a name and a setup function that creates its components.
	// A component whose creation fails (an invalid id, a function that
	// cannot be an action) fails the module's setup with its error.
	greeter := kervi.Module{Name: "greeter", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		actions.Register(bus, "greeter.greet", func(name string) string { return "hello, " + name })
		return nil
	}}
	ctx, stop := context.WithCancel(context.Background())
	app, err := kervi.NewApplication([]kervi.Module{greeter},
		// In one process, to run as an example; without this option the
		// module runs in a process of its own, with the same results.
		kervi.InProcess(),
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		kervi.WithAppMain(func(ctx context.Context) error {
			s, err := actions.CallAs[string](ctx, "greeter.greet", "kervi")
			fmt.Println(s, err)
			stop() // done: stop the application
			return err
		}))
	if err != nil {
		log.Fatal(err)
	}
	if err := app.Run(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: hello, kervi <nil>
}

func ExampleApplication_Main() {
	thermometer := kervi.Module{Name: "thermometer", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "room.temp", "Room", values.Unit("°C"), values.Initial(21.5))
		return nil
	}}
	app, err := kervi.NewApplication([]kervi.Module{thermometer}, kervi.WithName("home"))
	if err != nil {
		log.Fatal(err)
	}
	app.Main() // runs until Ctrl-C or SIGTERM, then exits the process
}

// A program that embeds kervi and has start-up work of its own does that
// work only in its own process, not in the module processes kervi starts
// from the same binary.
func ExampleIsModuleProcess() {
	app, err := kervi.NewApplication([]kervi.Module{ /* ... */ })
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if kervi.IsModuleProcess() {
		_ = app.Run(ctx) // serves the module; never returns
	}
	// The program's own start-up: opening its database, starting its web
	// server... Once, in the parent only.
	go func() { _ = app.Run(ctx) }()
	<-app.Ready()
}

// An application tuned for a small board with a slow subscriber: smaller
// queues, a longer heartbeat, and a log line when a module falls behind or
// catches up with its value events.
func ExampleWithLimits() {
	dashboard := kervi.Module{Name: "dashboard", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		// A subscriber that may be slow: it gets the latest content of the
		// value, never a backlog.
		_, err := bus.Subscribe("room.temp", func(ev ipc.Event) { /* draw it */ })
		return err
	}}
	app, err := kervi.NewApplication([]kervi.Module{dashboard},
		kervi.WithLimits(ipc.Limits{
			MaxMessageSize: 1 << 20, // 1 MiB
			QueueEvents:    4096,
			QueueBytes:     8 << 20,
		}),
		kervi.WithHeartbeat(2*time.Second, 10*time.Second),
		kervi.OnModuleState(func(s kervi.ModuleStatus) {
			if s.Behind {
				log.Printf("%s is behind; %d events coalesced so far", s.Name, s.Coalesced)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	app.Main()
}
