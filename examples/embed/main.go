// Command embed is a program that embeds a kervi application: besides the
// application it has work of its own, here a start-up log and a small HTTP
// server that reports the state of the application's modules.
//
//	go run ./examples/embed -listen 127.0.0.1:8080
//	curl http://127.0.0.1:8080/modules
//
// kervi starts the program's own binary again for every module, and a
// module process runs main from the start. So the program does its own
// start-up work only when kervi.IsModuleProcess() is false, and a module
// process goes straight to Run, which serves the module and never returns.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address of the status server")
	startupLog := flag.String("startup-log", "", "file to which each run of the start-up work appends a line")
	flag.Parse()

	app, err := kervi.NewApplication([]kervi.Module{
		{Name: "sensors", Setup: func(ctx context.Context, bus *ipc.Bus) error {
			sensors.New(bus, "room.temp", "Room", fake.New(sensors.Description{Unit: "°C"}, []float64{21.5}))
			return nil
		}},
		{Name: "loggers", Setup: func(ctx context.Context, bus *ipc.Bus) error {
			_, err := bus.Subscribe("room.temp", func(ev ipc.Event) { bus.Logger().Debug("room", "temp", ev.Value) })
			return err
		}},
	}, kervi.WithName("embed"))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if kervi.IsModuleProcess() {
		// A module process: no start-up work, no server; Run serves the
		// module and exits the process when the module stops.
		_ = app.Run(ctx)
		return
	}

	// The program's own start-up work: runs once, in the parent process.
	if *startupLog != "" {
		if err := appendLine(*startupLog, fmt.Sprintf("start-up work in pid %d", os.Getpid())); err != nil {
			log.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr()) // the parent owns its stdout
	mux := http.NewServeMux()
	mux.HandleFunc("/modules", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(app.Modules())
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-app.Ready()
		fmt.Println("application ready")
	}()

	// Run the application, as a part of the program, until a signal.
	if err := app.Run(ctx); err != nil {
		slog.Error("application failed", "error", err)
		os.Exit(1)
	}
	_ = srv.Shutdown(context.Background())
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
