// Command fan is kervi's process-distribution example: a CPU-load sensor
// in one process drives a fan controller in another.
//
//	go run ./examples/fan
//
// The application has three modules, each in a process of its own:
// "sensors" (the cpu_load sensor), "controllers" (the fan controller, whose
// temp input is linked to cpu_load) and, unless -load=false, "demoload",
// which puts a slowly rising and falling load on one CPU core so that the
// fan has something to follow. app_main switches the fan controller on,
// app_exit switches it off. Press Ctrl-C to stop.
//
// The module processes run this binary again with the same command-line
// arguments, so each parses -load as the parent did and serves its module
// of the same list.
package main

import (
	"context"
	"flag"
	"log"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/examples/fan/controllers"
	"github.com/kervi/kervi-go/examples/fan/demoload"
	"github.com/kervi/kervi-go/examples/fan/sensors"
)

func main() {
	load := flag.Bool("load", true, "run the demoload module, which varies the CPU load for the fan to follow")
	flag.Parse()

	modules := []kervi.Module{sensors.Module, controllers.Module}
	if *load {
		modules = append(modules, demoload.Module)
	}
	app, err := kervi.NewApplication(modules, kervi.WithName("fan"), kervi.WithAppMain(activate(true)), kervi.WithAppExit(activate(false)))
	if err != nil {
		log.Fatal(err)
	}
	app.Main()
}

// activate returns an app hook that switches the fan controller on or off.
func activate(on bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := actions.Call(ctx, "fan_controller.activate", on)
		return err
	}
}
