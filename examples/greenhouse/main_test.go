package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/exampletest"
	"github.com/kervi/kervi-go/ipc"
)

// TestGreenhouse builds the example and runs it as a user would, then uses
// its HTTP API: it reads a value, waters for two seconds and sees the pump
// in the irrigation module's process switch on and off again, finds the
// climate controller's ten values in the catalogue, and stops the program
// with Ctrl-C, which shuts the HTTP server down although Main ends the
// process with os.Exit.
func TestGreenhouse(t *testing.T) {
	p := exampletest.Start(t, nil, "-listen", "127.0.0.1:0")
	_, addr, _ := strings.Cut(p.WaitLine("HTTP API on http://", 30*time.Second), "HTTP API on http://")
	c := &client{t: t, base: addr}

	// The server runs before the application is ready: a read waits for it.
	if v := c.value("climate.target_temp"); v != 22.0 {
		t.Fatalf("climate.target_temp = %v, want 22", v)
	}
	if code, body := c.do(http.MethodGet, "/values/climate.nowhere", ""); code != http.StatusNotFound || !strings.Contains(body, "climate.nowhere") {
		t.Fatalf("unknown value: %d %s", code, body)
	}
	// The climate controller waters when the soil is dry, and the soil
	// sensor follows the clock: switch it off, so that only the test waters.
	if code, body := c.do(http.MethodPut, "/values/climate.mode", `"off"`); code != http.StatusOK {
		t.Fatalf("set climate.mode: %d %s", code, body)
	}
	if code, body := c.do(http.MethodPost, "/actions/irrigation.water", "[2]"); code != http.StatusOK {
		t.Fatalf("irrigation.water: %d %s", code, body)
	}
	if v := c.value("irrigation.pump"); v != true {
		t.Fatalf("irrigation.pump = %v after irrigation.water, want true", v)
	}
	// A watering the controller began before it was switched off may end
	// first.
	for c.value("irrigation.pump") != false {
		p.WaitLine("[irrigation] watering done", 60*time.Second)
	}
	if code, body := c.do(http.MethodPost, "/actions/irrigation.water", `["long"]`); code != http.StatusBadRequest {
		t.Fatalf("irrigation.water with a string: %d %s", code, body)
	}

	var catalogue []ipc.Description
	if code, body := c.do(http.MethodGet, "/catalogue", ""); code != http.StatusOK || json.Unmarshal([]byte(body), &catalogue) != nil {
		t.Fatalf("catalogue: %d %s", code, body)
	}
	units := map[string]string{}
	for _, d := range catalogue {
		if d.Parent == "climate" && d.Kind == ipc.KindValue {
			units[d.ID] = d.Unit
		}
	}
	want := map[string]string{
		"climate.air_temp": "°C", "climate.humidity": "%", "climate.soil": "%", "climate.light": "%",
		"climate.target_temp": "°C", "climate.dry_below": "%", "climate.mode": "",
		"climate.heater": "", "climate.lamp": "", "climate.vent": "%",
	}
	if !maps.Equal(units, want) {
		t.Fatalf("the climate's values and units in the catalogue:\n%v\nwant\n%v", units, want)
	}

	p.Interrupt()
	p.WaitLine("HTTP API stopped", 30*time.Second)
	p.Exit(30 * time.Second)
}

// client is a client of the example's HTTP API.
type client struct {
	t    *testing.T
	base string
}

// do sends a request and returns the response's status and body.
func (c *client) do(method, path, body string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, "http://"+c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// value reads the value id.
func (c *client) value(id string) any {
	c.t.Helper()
	code, body := c.do(http.MethodGet, "/values/"+id, "")
	var v struct{ Value any }
	if err := json.Unmarshal([]byte(body), &v); code != http.StatusOK || err != nil {
		c.t.Fatalf("GET /values/%s: %d %s", id, code, body)
	}
	return v.Value
}
