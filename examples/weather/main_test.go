package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/exampletest"
)

// TestWeather builds the example and runs it with fake devices, as on a
// laptop: the sensors publish the BME280's three dimensions and the
// DS18B20's temperature within their ranges, the dashboard sets the
// heater's relay and the vane's servo, the layout reaches the catalogue,
// and Ctrl-C stops the program.
func TestWeather(t *testing.T) {
	p := exampletest.Start(t, []string{"KERVI_DEVICES=fake"}, "-addr", "127.0.0.1:0", "-interval", "200ms")
	_, rest, _ := strings.Cut(p.WaitLine("dashboard: open http://", 60*time.Second), "dashboard: open ")
	base := strings.TrimSuffix(strings.Fields(rest)[0], "/")
	p.WaitLine("application ready", 60*time.Second)

	get := func(path string, v any) int {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.StatusCode
	}
	// value waits until id has a value that ok accepts; sensors publish
	// their first reading as the module starts.
	value := func(id string, ok func(any) bool) any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var ev struct{ Value any }
			if code := get("/api/values/"+id, &ev); code == http.StatusOK && ok(ev.Value) {
				return ev.Value
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no acceptable value (last %v)", id, ev.Value)
			}
			time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	within := func(lo, hi float64) func(any) bool {
		return func(v any) bool { f, ok := v.(float64); return ok && f >= lo && f <= hi }
	}
	value("air.temperature", within(15, 25))
	value("air.pressure", within(1000, 1025))
	value("air.humidity", within(40, 60))
	value("water", within(18, 24))

	post := func(id string, body string) {
		t.Helper()
		resp, err := http.Post(base+"/api/values/"+id, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST %s %s: %s", id, body, resp.Status)
		}
	}
	value("heater", func(v any) bool { return v == false }) // the safe state at start
	value("vane", within(90, 90))                           // centred
	post("heater", `{"value": true}`)
	post("vane", `{"value": 45}`)
	value("heater", func(v any) bool { return v == true })
	value("vane", within(45, 45))
	resp, err := http.Post(base+"/api/values/vane", "application/json", strings.NewReader(`{"value": 200}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("vane set to 200°: %s, want 400 (out of range)", resp.Status)
	}

	var cat []struct {
		ID   string
		Meta map[string]string
	}
	get("/api/catalogue", &cat)
	placed := map[string]bool{}
	for _, c := range cat {
		if strings.Contains(c.Meta["dashboard"], "panel") {
			placed[c.ID] = true
		}
	}
	for _, id := range []string{"air", "water", "heater", "vane"} {
		if !placed[id] {
			t.Errorf("%s has no dashboard placement in the catalogue", id)
		}
	}

	p.Interrupt()
	p.WaitLine("application stopped", 30*time.Second)
	p.Exit(30 * time.Second)
}
