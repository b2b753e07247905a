package kervi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
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
	if !kervi.IsModuleProcess() {
		// The program's own start-up: opening its database, starting its
		// web server... Once, in the parent only.
	}
	app.Main() // in a module process, serves the module
}

// A program that embeds kervi serves its own HTTP API next to the
// application. The handlers reach the application through their
// request's context; the application shuts the server down when it stops,
// also under Main, which ends the process with os.Exit.
func ExampleApplication_Context() {
	app, err := kervi.NewApplication([]kervi.Module{ /* ... */ })
	if err != nil {
		log.Fatal(err)
	}
	if !kervi.IsModuleProcess() {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /values/{id}", func(w http.ResponseWriter, r *http.Request) {
			v, err := ipc.Get[ipc.Value](r.Context(), r.PathValue("id")) // the context carries the bus
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			_ = json.NewEncoder(w).Encode(v.Any())
		})
		srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux,
			BaseContext: func(net.Listener) context.Context { return app.Context() }}
		go func() { _ = srv.ListenAndServe() }()
		app.OnStop(srv.Shutdown)
	}
	app.Main()
}

// The parent's bus exists before Run: a program can make its calls at
// once; those that need the application wait until it is ready.
func ExampleApplication_Bus() {
	thermostat := kervi.Module{Name: "thermostat", Setup: func(ctx context.Context, bus *ipc.Bus) error {
		target := values.NewNumber(bus, "thermostat.target", "Target", values.Range(5, 30), values.Initial(20))
		if err := target.Err(); err != nil {
			return err
		}
		return actions.Register(bus, "thermostat.warmer", func(by float64) (float64, error) {
			v := target.Value() + by
			return v, target.Set(v)
		}).Err()
	}}
	app, err := kervi.NewApplication([]kervi.Module{thermostat}, kervi.InProcess(),
		kervi.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		log.Fatal(err)
	}
	app.OnStop(func(ctx context.Context) error {
		fmt.Println("stopping; context ended:", app.Context().Err() != nil)
		return nil
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	// Made before the application is ready: waits for it.
	v, err := actions.CallAs[float64](app.Context(), "thermostat.warmer", 1.5)
	fmt.Println(v, err)
	fmt.Println(app.WaitReady(app.Context()))
	t, err := ipc.Get[float64](app.Context(), "thermostat.target")
	fmt.Println(t, err)
	err = app.Bus().Set(app.Context(), "thermostat.target", 40)
	fmt.Println(errors.Is(err, ipc.ErrOutOfRange))
	_, err = app.Bus().Call(app.Context(), "thermostat.colder", 1)
	fmt.Println(errors.Is(err, ipc.ErrUnknownID))

	stop()
	fmt.Println(<-done)
	// Output:
	// 21.5 <nil>
	// <nil>
	// 21.5 <nil>
	// true
	// true
	// stopping; context ended: true
	// <nil>
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

// A record of the log feed, as a follower of kervi.LogFeedID gets it.
func ExampleParseLogRecord() {
	text := `{"time":"2025-05-01T12:00:00.5Z","level":"WARN","module":"sensors","msg":"sensor read failed","attrs":{"retry_in":"500ms"}}`
	r, err := kervi.ParseLogRecord(text)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Time.Format(time.TimeOnly), r.Level, r.Module, r.Msg, r.Attrs["retry_in"])
	// Output: 12:00:00 WARN sensors sensor read failed 500ms
}
