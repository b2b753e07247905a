package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"

	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// A program that serves HTTP itself mounts the dashboard's API in its own
// router. Here the application runs on an ipctest hub; a program would pass
// its Application's bus (kervi.Application.Bus).
func Example_mount() {
	h := ipctest.New()
	defer h.Close()
	h.Module("greenhouse", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "greenhouse.temp", "Temperature", values.Unit("°C"), values.Initial(21.5))
		return nil
	})
	bus, err := h.Module("web", func(ctx context.Context, bus *ipc.Bus) error { return nil })
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		log.Fatal(err)
	}

	dash, err := dashboard.New(bus)
	if err != nil {
		log.Fatal(err)
	}
	defer dash.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/", dash)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the program's own page") })
	srv := httptest.NewServer(mux) // a program: http.ListenAndServe(addr, mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/values/greenhouse.temp")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		ID    string  `json:"id"`
		Value float64 `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, v.ID, v.Value)
	// Output: 200 greenhouse.temp 21.5
}

// With users, the dashboard asks for a login, and the layout's groups limit
// what each user reads and writes. A program keeps hashes, not passwords:
// make them once with HashPassword (or the kervi-passwd command) and put
// them in its configuration.
func Example_users() {
	annHash, err := dashboard.HashPassword("correct horse") // once, offline
	if err != nil {
		log.Fatal(err)
	}

	h := ipctest.New()
	defer h.Close()
	h.Module("greenhouse", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "greenhouse.temp", "Temperature", values.Unit("°C"), values.Initial(21.5),
			layout.Value(layout.Placement{Panel: "climate", Read: []string{"family"}}))
		return nil
	})
	bus, _ := h.Module("web", func(ctx context.Context, bus *ipc.Bus) error { return nil })
	if err := h.Start(context.Background()); err != nil {
		log.Fatal(err)
	}

	// In an application: dashboard.Module(dashboard.Users(...), ...).
	dash, err := dashboard.New(bus, dashboard.Users(
		dashboard.User{Name: "ann", PasswordHash: annHash, Groups: []string{"family"}},
	))
	if err != nil {
		log.Fatal(err)
	}
	defer dash.Close()
	srv := httptest.NewServer(dash)
	defer srv.Close()

	get := func(client *http.Client, path string) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body, _, _ := strings.Cut(string(b), `,"time"`) // the time varies
		fmt.Println(resp.StatusCode, strings.TrimSpace(body))
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get(browser, "/api/values/greenhouse.temp")

	resp, err := browser.Post(srv.URL+"/api/login", "application/json", strings.NewReader(`{"user":"ann","password":"correct horse"}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	get(browser, "/api/session")
	get(browser, "/api/values/greenhouse.temp")
	// Output:
	// 401 {"error":"login required","login":true}
	// 200 {"auth":true,"user":"ann","groups":["family"]}
	// 200 {"id":"greenhouse.temp","value":21.5
}
