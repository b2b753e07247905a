package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWeather builds the example and runs it with fake devices, as on a
// laptop: the sensors publish the BME280's three dimensions and the
// DS18B20's temperature within their ranges, the dashboard sets the
// heater's relay and the vane's servo, the layout reaches the catalogue,
// and Ctrl-C stops the program.
func TestWeather(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "weather")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-interval", "200ms")
	cmd.Env = append(os.Environ(), "KERVI_DEVICES=fake")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var logged []string
	waitLine := func(s string, timeout time.Duration) string {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the program exited while waiting for %q:\n%s", s, strings.Join(logged, "\n"))
				}
				logged = append(logged, l)
				if strings.Contains(l, s) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %q in the program's log:\n%s", s, strings.Join(logged, "\n"))
			}
		}
	}
	_, rest, _ := strings.Cut(waitLine("dashboard: open http://", 60*time.Second), "dashboard: open ")
	base := strings.TrimSuffix(strings.Fields(rest)[0], "/")
	waitLine("application ready", 60*time.Second)

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

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitLine("application stopped", 30*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after Ctrl-C: %v", err)
	}
}
