// Command greenhouse is a greenhouse run by kervi: sensors for the air, the
// soil and the light in one process, a climate controller in another, the
// irrigation pump in a third, and a small HTTP API of the program's own.
//
//	go run ./examples/greenhouse
//	curl http://127.0.0.1:8081/values/climate.vent
//	curl -X POST -d '[10]' http://127.0.0.1:8081/actions/irrigation.water
//
// The sensors are simulated (devices/fake), so the example runs on any
// machine.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"math"
	"net/http"
	"os"
	"os/signal"
	"syscall"
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if kervi.IsModuleProcess() {
		_ = app.Run(ctx)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /values/{id}", func(w http.ResponseWriter, r *http.Request) {
		bus := app.Bus()
		if bus == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		id := r.PathValue("id")
		ch := make(chan ipc.Event, 1)
		sub, err := bus.Subscribe(id, func(ev ipc.Event) {
			select {
			case ch <- ev:
			default:
			}
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer sub.Close()
		select {
		case ev := <-ch:
			_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "value": ev.Value.Any(), "time": ev.Time})
		case <-time.After(2 * time.Second):
			http.Error(w, "no value", http.StatusNotFound)
		}
	})
	mux.HandleFunc("POST /actions/{id}", func(w http.ResponseWriter, r *http.Request) {
		bus := app.Bus()
		if bus == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		var args []any
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil && err.Error() != "EOF" {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		res, err := actions.Call(ipc.NewContext(r.Context(), bus), r.PathValue("id"), args...)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Addr: *listen, Handler: mux}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			log.Print(err)
		}
	}()
	log.Printf("HTTP API on http://%s", *listen)
	err = app.Run(ctx)
	_ = srv.Shutdown(context.Background())
	if err != nil {
		log.Fatal(err)
	}
}
