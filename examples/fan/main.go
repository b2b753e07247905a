// Command fan is kervi's process-distribution example: a CPU-load sensor
// in one process drives a fan controller in another, and a dashboard in a
// third shows both in a browser.
//
//	go run ./examples/fan
//
// The application has four modules, each in a process of its own:
// "sensors" (the cpu_load sensor), "controllers" (the fan controller, whose
// temp input is linked to cpu_load), "dashboard" (the web dashboard, which
// logs the URL to open: http://127.0.0.1:8765/ unless -addr says otherwise)
// and, unless -load=false, "demoload", which puts a slowly rising and
// falling load on one CPU core so that the fan has something to follow.
// app_main switches the fan controller on, app_exit switches it off. Press
// Ctrl-C to stop.
//
// The sensors and controllers place their components on the dashboard
// (package dashboard/layout): the CPU load as a chart, the fan speed as a
// gauge, the unlinked max_speed input as a slider and a number entry, and
// the activate action as a switch in the header that shows
// fan_controller.active. An automatic dashboard "all" shows every
// component.
//
// The module processes run this binary again with the same command-line
// arguments, so each parses the flags as the parent did and serves its
// module of the same list.
//
// The screenshots of the README are made by the browser tests, on request:
//
//go:generate go test -run TestScreenshots -screenshots .
package main

import (
	"context"
	"flag"
	"log"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/examples/fan/controllers"
	"github.com/kervi/kervi-go/examples/fan/demoload"
	"github.com/kervi/kervi-go/examples/fan/sensors"
)

func main() {
	load := flag.Bool("load", true, "run the demoload module, which varies the CPU load for the fan to follow")
	addr := flag.String("addr", dashboard.DefaultAddr, "the dashboard's address, host:port (port 0: any free port)")
	flag.Parse()

	modules := []kervi.Module{sensors.Module, controllers.Module, dashboard.Module(dashboard.Addr(*addr))}
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
