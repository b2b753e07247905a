// Command greenhouse is a greenhouse run by kervi: sensors for the air, the
// soil and the light in one process, a climate controller in another, the
// irrigation pump in a third, and a small HTTP API of the program's own.
//
//	go run ./examples/greenhouse
//	curl http://127.0.0.1:8081/catalogue
//	curl http://127.0.0.1:8081/values/climate.vent
//	curl -X PUT -d '"off"' http://127.0.0.1:8081/values/climate.mode
//	curl -X POST -d '[10]' http://127.0.0.1:8081/actions/irrigation.water
//
// The HTTP API runs in the parent process only, and starts before the
// application is ready: a request that comes early waits for it. Its
// handlers reach the application through their request's context, which
// carries the application's bus. The application shuts the server down
// when it stops (Ctrl-C).
//
// The sensors are simulated (devices/fake), so the example runs on any
// machine.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/examples/greenhouse/climate"
	"github.com/kervi/kervi-go/examples/greenhouse/irrigation"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

var sensorModule = kervi.Module{Name: "sensors", Setup: func(ctx context.Context, bus *ipc.Bus) error {
	air := fake.Func(sensors.Description{Dimensions: []sensors.Dimension{
		{Label: "temperature", Unit: "°C", Min: new(-40.0), Max: new(80.0)},
		{Label: "humidity", Unit: "%", Min: new(0.0), Max: new(100.0)},
	}}, func(t time.Time) []float64 {
		phase := 2 * math.Pi * float64(t.UnixNano()%int64(10*time.Minute)) / float64(10*time.Minute)
		return []float64{22 + 10*math.Sin(phase), 67 - 27*math.Sin(phase)}
	})
	sensors.New(bus, "air", "Air", air)
	sensors.New(bus, "soil.moisture", "Soil moisture", fake.Sine(sensors.Description{Unit: "%"}, 5*time.Minute, 10, 60))
	sensors.New(bus, "light", "Light", fake.Sine(sensors.Description{Unit: "lx"}, 20*time.Minute, 0, 100000))
	return nil
}}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address of the HTTP API")
	flag.Parse()
	app, err := kervi.NewApplication([]kervi.Module{sensorModule, climate.Module, irrigation.Module}, kervi.WithName("greenhouse"))
	if err != nil {
		log.Fatal(err)
	}
	if !kervi.IsModuleProcess() { // kervi runs main again in every module's process
		if err := serve(app, *listen); err != nil {
			log.Fatal(err)
		}
	}
	app.Main() // until SIGINT or SIGTERM; a module process serves its module
}

// serve starts the HTTP API, which the application shuts down when it
// stops.
func serve(app *kervi.Application, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api(app), BaseContext: func(net.Listener) context.Context { return app.Context() }}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Print(err)
		}
	}()
	app.OnStop(func(ctx context.Context) error {
		defer log.Print("HTTP API stopped")
		return srv.Shutdown(ctx)
	})
	log.Printf("HTTP API on http://%s", ln.Addr())
	return nil
}

// api serves the application's catalogue, values and actions.
func api(app *kervi.Application) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /catalogue", func(w http.ResponseWriter, r *http.Request) {
		err := app.WaitReady(r.Context()) // every module has announced its components
		reply(w, app.Components(), err)
	})
	mux.HandleFunc("GET /values/{id}", func(w http.ResponseWriter, r *http.Request) {
		ev, err := app.Bus().Get(r.Context(), r.PathValue("id"))
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
		var args []any // a JSON array; no body calls the action without arguments
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil && !errors.Is(err, io.EOF) {
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
