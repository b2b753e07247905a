package dashboard_test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
)

type value struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
	Time  int64  `json:"time"`
}

type errorBody struct {
	Error string `json:"error"`
}

func TestREST(t *testing.T) {
	_, base := startApp(t)

	// The catalogue: every module's entries, described.
	eventually(t, 10*time.Second, "catalogue", func() error {
		var cat []ipc.Description
		if st := do(t, "GET", base+"/api/catalogue", "", &cat); st != 200 {
			return fmt.Errorf("status %d", st)
		}
		byID := map[string]ipc.Description{}
		for _, d := range cat {
			byID[d.ID] = d
		}
		d, ok := byID["fan.temp"]
		if !ok || d.Module != "fan" || d.Unit != "°C" || d.Max == nil || *d.Max != 100 || !d.Input {
			return fmt.Errorf("fan.temp: %+v (ok %v)", d, ok)
		}
		if d := byID["fan.activate"]; d.Kind != ipc.KindAction {
			return fmt.Errorf("fan.activate: %+v", d)
		}
		if _, ok := byID[kervi.ModulesID]; !ok {
			return fmt.Errorf("no %s", kervi.ModulesID)
		}
		return nil
	})

	// Values: all, and one.
	var vs []value
	if st := do(t, "GET", base+"/api/values", "", &vs); st != 200 || len(vs) < 3 {
		t.Fatalf("values: %d %v", st, vs)
	}
	var v value
	if st := do(t, "GET", base+"/api/values/fan.temp", "", &v); st != 200 || v.Value != 20.0 || v.Time == 0 {
		t.Fatalf("fan.temp: %d %+v", st, v)
	}
	var eb errorBody
	if st := do(t, "GET", base+"/api/values/no.such", "", &eb); st != 404 || eb.Error == "" {
		t.Fatalf("unknown id: %d %+v", st, eb)
	}

	// A set refused by the owner: 400 and its message.
	eb = errorBody{}
	if st := do(t, "POST", base+"/api/values/fan.temp", `{"value": 150}`, &eb); st != http.StatusBadRequest || !strings.Contains(eb.Error, "outside the range") || !strings.Contains(eb.Error, "fan.temp") {
		t.Fatalf("out of range set: %d %+v", st, eb)
	}
	// Not JSON: 400.
	if st := do(t, "POST", base+"/api/values/fan.temp", `{"value": `, &eb); st != http.StatusBadRequest {
		t.Fatalf("bad body: %d %+v", st, eb)
	}
	// An output: 400.
	if st := do(t, "POST", base+"/api/values/fan.speed", `{"value": 5}`, &eb); st != http.StatusBadRequest || !strings.Contains(eb.Error, "is an output") {
		t.Fatalf("output set: %d %+v", st, eb)
	}
	// An enum takes its text.
	if st := do(t, "POST", base+"/api/values/fan.mode", `{"value": "manual"}`, nil); st != http.StatusNoContent {
		t.Fatalf("enum set: %d", st)
	}
	if st := do(t, "POST", base+"/api/values/fan.mode", `{"value": "turbo"}`, &eb); st != http.StatusBadRequest {
		t.Fatalf("bad enum set: %d %+v", st, eb)
	}

	// Actions.
	var res struct {
		Result any `json:"result"`
	}
	if st := do(t, "POST", base+"/api/actions/fan.activate", `{"args": [true]}`, &res); st != 200 || res.Result != "on" {
		t.Fatalf("call: %d %+v", st, res)
	}
	eb = errorBody{}
	if st := do(t, "POST", base+"/api/actions/fan.fail", ``, &eb); st != http.StatusBadGateway || !strings.Contains(eb.Error, "the fan is stuck") {
		t.Fatalf("failing call: %d %+v", st, eb)
	}
	if st := do(t, "POST", base+"/api/actions/fan.activate", `{"args": ["yes", 2]}`, &eb); st != http.StatusBadRequest {
		t.Fatalf("bad args: %d %+v", st, eb)
	}

	// Sets, then their history, and the controller's output follows.
	for _, x := range []int{30, 40, 50} {
		if st := do(t, "POST", base+"/api/values/fan.temp", fmt.Sprintf(`{"value": %d}`, x), &eb); st != http.StatusNoContent {
			t.Fatalf("set %d: %d %+v", x, st, eb)
		}
	}
	eventually(t, 10*time.Second, "history", func() error {
		var pts [][2]float64
		if st := do(t, "GET", base+"/api/history/fan.temp?points=100", "", &pts); st != 200 {
			return fmt.Errorf("status %d", st)
		}
		if len(pts) < 4 || pts[len(pts)-1][1] != 50 {
			return fmt.Errorf("points %v", pts)
		}
		for i := 1; i < len(pts); i++ {
			if pts[i][0] < pts[i-1][0] {
				return fmt.Errorf("out of order: %v", pts)
			}
		}
		return nil
	})
	eventually(t, 10*time.Second, "fan.speed", func() error {
		var v value
		if do(t, "GET", base+"/api/values/fan.speed", "", &v); v.Value != 50.0 {
			return fmt.Errorf("%+v", v)
		}
		return nil
	})
	var pts [][2]float64
	now := time.Now()
	if st := do(t, "GET", fmt.Sprintf("%s/api/history/fan.temp?from=%s&to=%d&points=2", base, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Minute).UnixMilli()), "", &pts); st != 200 || len(pts) != 2 || pts[1][1] != 50 {
		t.Fatalf("history range: %v", pts)
	}
	for _, q := range []string{"points=2001", "points=0", "from=yesterday", "from=2000&to=1000"} {
		if st := do(t, "GET", base+"/api/history/fan.temp?"+q, "", &eb); st != http.StatusBadRequest {
			t.Errorf("history?%s: %d %+v", q, st, eb)
		}
	}

	// Observing the application.
	var mods []map[string]any
	if st := do(t, "GET", base+"/api/modules", "", &mods); st != 200 || len(mods) != 3 {
		t.Fatalf("modules: %d %v", st, mods)
	}
	var logs []any
	if st := do(t, "GET", base+"/api/logs", "", &logs); st != 200 {
		t.Fatalf("logs: %d", st)
	}
}

// TestModuleCrash: the dashboard module's process dies; the application
// goes on and the dashboard is restarted, serving again.
func TestModuleCrash(t *testing.T) {
	app, base := startApp(t)
	var old kervi.ModuleStatus
	for _, m := range app.Modules() {
		if m.Name == "dashboard" {
			old = m
		}
	}
	if old.PID <= 0 {
		t.Fatalf("dashboard status: %+v", old)
	}
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "dashboard restarted", func() error {
		for _, m := range app.Modules() {
			if m.Name == "dashboard" && (m.State != kervi.StateReady || m.Restarts < 1 || m.PID == old.PID) {
				return fmt.Errorf("%+v", m)
			}
			if m.Name != "dashboard" && (m.State != kervi.StateReady || m.Restarts != 0) {
				return fmt.Errorf("%+v", m)
			}
		}
		return nil
	})
	eventually(t, 10*time.Second, "serving again", func() error {
		var v value
		if st := do(t, "GET", base+"/api/values/fan.temp", "", &v); st != 200 || v.Value != 20.0 {
			return fmt.Errorf("%d %+v", st, v)
		}
		return nil
	})
	// The WebSocket of the new process: catalogue, values, a call.
	c := dial(t, base)
	c.until(10*time.Second, "catalogue and values", func(msg) bool {
		_, ok := c.cat["fan.activate"]
		return ok && c.values["fan.temp"] == 20.0
	})
	c.send(`{"t":"call","ref":1,"id":"fan.activate","args":[true]}`)
	if m := c.result(1); m.Error != "" || string(m.Result) != `"on"` {
		t.Fatalf("call over the WebSocket: %+v", m)
	}
	// The application still works through it.
	var res struct {
		Result any `json:"result"`
	}
	if st := do(t, "POST", base+"/api/actions/fan.activate", `{"args": [false]}`, &res); st != 200 || res.Result != "off" {
		t.Fatalf("call: %d %+v", st, res)
	}
}
