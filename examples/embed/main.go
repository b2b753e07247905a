// Command embed is a program that embeds a kervi application: besides the
// application it has work of its own, here a start-up log and a small HTTP
// API that reads and sets the application's values, calls its actions and
// reports the state of its modules.
//
//	go run ./examples/embed -listen 127.0.0.1:8080
//	curl http://127.0.0.1:8080/modules
//	curl http://127.0.0.1:8080/values/room.temp
//	curl -X PUT -d 23 http://127.0.0.1:8080/values/room.target
//	curl -X POST -d '[1.5]' http://127.0.0.1:8080/actions/room.nudge
//
// kervi starts the program's own binary again for every module, and a
// module process runs main from the start. So the program does its own
// start-up work only when kervi.IsModuleProcess() is false; every process
// then calls Main, which in a module process serves the module.
//
// The server starts before the application is ready. Its handlers use the
// application's bus through their request's context (app.Context is the
// server's base context), and a request that arrives before the
// application is ready waits for it. When the application stops, its
// OnStop hook shuts the server down, although Main ends the process with
// os.Exit.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

var room = kervi.Module{Name: "room", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	sensors.New(bus, "room.temp", "Room", fake.New(sensors.Description{Unit: "°C"}, []float64{21.5}))
	target := values.NewNumber(bus, "room.target", "Target", values.Unit("°C"), values.Range(5, 30), values.Initial(21.0))
	actions.Register(bus, "room.nudge", func(by float64) (float64, error) {
		v := target.Value() + by
		return v, target.Set(v)
	}, actions.Params("by"))
	return nil
}}

var loggers = kervi.Module{Name: "loggers", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	_, err := bus.Subscribe("room.temp", func(ev ipc.Event) { bus.Logger().Debug("room", "temp", ev.Value) })
	return err
}}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the HTTP API")
	startupLog := flag.String("startup-log", "", "file to which each run of the start-up work appends a line")
	flag.Parse()

	app, err := kervi.NewApplication([]kervi.Module{room, loggers}, kervi.WithName("embed"))
	if err != nil {
		log.Fatal(err)
	}
	if !kervi.IsModuleProcess() {
		// The program's own start-up work: runs once, in the parent.
		if err := startUp(app, *listen, *startupLog); err != nil {
			log.Fatal(err)
		}
	}
	app.Main() // until SIGINT or SIGTERM; a module process serves its module
}

// startUp does the program's own work: a line in the start-up log, and
// the HTTP API, which the application shuts down when it stops.
func startUp(app *kervi.Application, listen, startupLog string) error {
	if startupLog != "" {
		if err := appendLine(startupLog, fmt.Sprintf("start-up work in pid %d", os.Getpid())); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: api(app),
		// Every request's context carries the bus, and ends when the
		// application stops.
		BaseContext: func(net.Listener) context.Context { return app.Context() },
	}
	go func() { _ = srv.Serve(ln) }()
	app.OnStop(func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		fmt.Println("server stopped")
		return err
	})
	fmt.Println("listening on", ln.Addr()) // the parent owns its stdout
	go func() {
		if app.WaitReady(context.Background()) == nil {
			fmt.Println("application ready")
		}
	}()
	return nil
}

// api serves the application's values, actions and modules.
func api(app *kervi.Application) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /modules", func(w http.ResponseWriter, r *http.Request) {
		reply(w, app.Modules(), nil)
	})
	mux.HandleFunc("GET /values/{id}", func(w http.ResponseWriter, r *http.Request) {
		ev, err := ipc.Get[ipc.Event](r.Context(), r.PathValue("id"))
		reply(w, map[string]any{"id": ev.ID, "value": ev.Value.Any(), "time": ev.Time}, err)
	})
	mux.HandleFunc("PUT /values/{id}", func(w http.ResponseWriter, r *http.Request) {
		var v any
		if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply(w, "ok", ipc.Set(r.Context(), r.PathValue("id"), v))
	})
	mux.HandleFunc("POST /actions/{id}", func(w http.ResponseWriter, r *http.Request) {
		var args []any
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := actions.Call(r.Context(), r.PathValue("id"), args...)
		reply(w, res, err)
	})
	return mux
}

// reply writes v as JSON, or err with the HTTP status that fits it.
func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), ipc.HTTPStatus(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, line)
	return err
}
