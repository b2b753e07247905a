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
// gauge, the unlinked max_speed input as a slider (with a number entry), and
// the activate action as a switch in the header that shows
// fan_controller.active. An automatic dashboard "all" shows every
// component.
//
// With -users FILE, the dashboard asks for a login: FILE has a line
// "name:bcrypt-hash:group,..." per user (see readUsers; make a hash with
// dashboard.HashPassword).
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
	"fmt"
	"log"
	"os"
	"strings"

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
	usersFile := flag.String("users", "", "a file of dashboard users, one `name:bcrypt-hash:group,...` a line; none: no login")
	flag.Parse()

	dashOpts := []dashboard.Option{dashboard.Addr(*addr)}
	if *usersFile != "" {
		users, err := readUsers(*usersFile)
		if err != nil {
			log.Fatal(err)
		}
		dashOpts = append(dashOpts, dashboard.Users(users...))
	}
	modules := []kervi.Module{sensors.Module, controllers.Module, dashboard.Module(dashOpts...)}
	if *load {
		modules = append(modules, demoload.Module)
	}
	app, err := kervi.NewApplication(modules, kervi.WithName("fan"), kervi.WithAppMain(activate(true)), kervi.WithAppExit(activate(false)))
	if err != nil {
		log.Fatal(err)
	}
	app.Main()
}

// readUsers reads the dashboard's users from a file of lines
// "name:bcrypt-hash:group,group" (the groups may be left out; blank lines
// and lines beginning with # are skipped). dashboard.HashPassword makes
// the hashes.
func readUsers(path string) ([]dashboard.User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	var users []dashboard.User
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("users: %s:%d: want name:bcrypt-hash or name:bcrypt-hash:group1,group2", path, i+1)
		}
		u := dashboard.User{Name: f[0], PasswordHash: f[1]}
		if len(f) == 3 && f[2] != "" {
			u.Groups = strings.Split(f[2], ",")
		}
		users = append(users, u)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("users: %s: no user", path)
	}
	return users, nil
}

// activate returns an app hook that switches the fan controller on or off.
func activate(on bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := actions.Call(ctx, "fan_controller.activate", on)
		return err
	}
}
