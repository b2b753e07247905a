package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/kervi/kervi-go/dashboard"
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
