package main

// Browser tests: a real headless Chromium (internal/browsertest) opens the
// dashboard of the example, which runs as a user runs it, each module in a
// process of its own. They skip when no browser is found, and fail instead
// when KERVI_REQUIRE_BROWSER=1 (as .ci/run sets).

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/internal/browsertest"
)

// Deadlines of the waits: long enough for a loaded CI machine, which runs
// the browser beside the race-detector tests of other packages.
const (
	pageTimeout = 20 * time.Second // the page and its widgets
	liveTimeout = 15 * time.Second // a new live value (the sensor reads every second)
)

// widget is the CSS selector of the widget that shows id as kind.
func widget(id, kind string) string {
	return fmt.Sprintf(`.widget[data-id=%q][data-widget=%q]`, id, kind)
}

// js returns a JavaScript expression for the first element matching css
// (null if none).
func js(css string) string { return fmt.Sprintf("document.querySelector(%q)", css) }

// openDashboard opens the dashboard in a new headless browser and waits
// for it to be connected and to show the live value of cpu_load.
func openDashboard(t *testing.T, app *fanApp, opts ...browsertest.Option) *browsertest.Page {
	t.Helper()
	p := browsertest.New(t, opts...)
	p.Do(pageTimeout, chromedp.Navigate(app.URL))
	waitConnected(p)
	browsertest.Wait[bool](p, pageTimeout, "the CPU load's value", js(widget("cpu_load", "value"))+`?.dataset.value > ""`)
	return p
}

// waitConnected waits for the page to say it is connected.
func waitConnected(p *browsertest.Page) {
	browsertest.Wait[bool](p, pageTimeout, "#conn connected", js("#conn")+`?.dataset.state === "connected" && window.kervi?.connected === true`)
}

// dataValue returns the data-value of the element css ("" if none).
func dataValue(p *browsertest.Page, css string) string {
	return browsertest.Eval[string](p, js(css)+`?.dataset.value ?? ""`)
}

// waitChange waits for data-value of css to be set and differ from old,
// and returns it.
func waitChange(p *browsertest.Page, css, old, what string) string {
	return browsertest.Wait[string](p, liveTimeout, what,
		fmt.Sprintf(`(() => { const v = %s?.dataset.value; return v !== undefined && v !== "" && v !== %q && v })()`, js(css), old))
}

// waitLiveCPU waits for a new live value of cpu_load after the page has
// shown one: its value widget shows another value, or, when the load
// stays the same (a machine busy at 100 %), its chart plots one more
// point (the sensor publishes every reading). It returns what it saw.
func waitLiveCPU(p *browsertest.Page, what string) string {
	value, chart := js(widget("cpu_load", "value")), js(widget("cpu_load", "chart"))
	v0 := dataValue(p, widget("cpu_load", "value"))
	n0 := browsertest.Eval[string](p, chart+`?.dataset.points ?? ""`)
	return browsertest.Wait[string](p, liveTimeout, what, fmt.Sprintf(`(() => {
		const v = %s?.dataset.value, n = %s?.dataset.points;
		if (v && v !== %q) return "value " + %q + " then " + v;
		if (%q !== "" && Number(n) > Number(%q)) return "value " + v + " again, chart points " + %q + " then " + n;
		return false })()`, value, chart, v0, v0, n0, n0, n0))
}

// typeInto types keys into the input css as a user does: it focuses it,
// selects its text, and types over it.
func typeInto(p *browsertest.Page, css, keys string) {
	p.Do(pageTimeout, chromedp.ScrollIntoView(css), chromedp.Focus(css),
		chromedp.Evaluate[chromedp.Void](js(css)+`.select()`), chromedp.KeyEvent(keys))
}

// The dashboard loads with the example's placements, is connected, and the
// CPU load updates live; the time from navigation to the first live value
// is logged.
func TestDashboardLoads(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app)

	for _, w := range []struct{ id, kind, inside string }{
		{"cpu_load", "chart", ".w-chart"},
		{"cpu_load", "value", ".w-value"},
		{"fan_controller.fan_speed", "gauge", ".w-value"},
		{"fan_controller.max_speed", "slider", `input[type=range]`},
		{"fan_controller.max_speed", "slider", `input[type=number]`},
		{"fan_controller.activate", "switch", `input[type=checkbox][role=switch]`},
		{"fan_controller.temp", "value", ".w-value"},
	} {
		browsertest.Wait[bool](p, pageTimeout, fmt.Sprintf("%s shown as %s with %s", w.id, w.kind, w.inside),
			fmt.Sprintf(`!!%s`, js(widget(w.id, w.kind)+" "+w.inside)))
	}
	if title := browsertest.Eval[string](p, js(widget("fan_controller.fan_speed", "gauge")+" .w-title")+`?.textContent ?? ""`); title == "" {
		t.Errorf("the fan speed's gauge has no title")
	}
	browsertest.Wait[bool](p, pageTimeout, "the navigation to the main dashboard", `!!`+js(`nav a[data-dashboard="main"]`))

	// Live: the CPU load's value changes, in the header value and the chart.
	cpu := widget("cpu_load", "value")
	t.Logf("live: cpu_load %s", waitLiveCPU(p, "a new live CPU load value"))
	if v := dataValue(p, cpu); v == "" {
		t.Errorf("cpu_load has no data-value")
	} else if _, err := strconv.ParseFloat(v, 64); err != nil {
		t.Errorf("cpu_load data-value %q is not a number: %v", v, err)
	}
	shown := browsertest.Eval[string](p, js(cpu+" .w-value")+`.textContent`)
	if !regexp.MustCompile(`\d`).MatchString(shown) || !regexp.MustCompile(`%`).MatchString(shown) {
		t.Errorf("cpu_load shows %q; want the number with its unit %%", shown)
	}

	// Time to the first live value, over fresh loads of the page.
	var ms []float64
	for i := range 5 {
		if i > 0 {
			p.Do(pageTimeout, chromedp.Navigate(fmt.Sprintf("%s?load=%d", app.URL, i)))
		}
		at := browsertest.Wait[float64](p, pageTimeout, "window.kervi.firstValueAt", `window.kervi?.firstValueAt`)
		ms = append(ms, at)
	}
	t.Logf("time from navigation to the first live value: %v ms (median %.0f ms)", roundAll(ms), median(ms))
}

func roundAll(xs []float64) []float64 {
	r := make([]float64, len(xs))
	for i, x := range xs {
		r[i] = math.Round(x)
	}
	return r
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// The activate switch calls the action in the controllers' process; its
// state follows fan_controller.active, both ways: off with a click, on
// from the keyboard (Space on the focused switch).
func TestDashboardSwitch(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app)
	sw := widget("fan_controller.activate", "switch")
	box := sw + ` input[type=checkbox][role=switch]`

	// app_main activated the controller.
	app.waitValue("fan_controller.active", "become true", liveTimeout, func(v any) bool { return v == true })
	browsertest.Wait[bool](p, pageTimeout, "the switch on, as fan_controller.active", js(box)+`?.checked === true`)

	for _, on := range []bool{false, true} {
		from := app.logLen()
		if on {
			p.Do(pageTimeout, chromedp.Focus(box), chromedp.KeyEvent(" "))
		} else {
			p.Do(pageTimeout, chromedp.Click(box))
		}
		browsertest.Wait[bool](p, pageTimeout, fmt.Sprintf("the switch to show %v", on), fmt.Sprintf(`%s.checked === %v`, js(box), on))
		browsertest.Wait[bool](p, pageTimeout, "the action's call done", js(sw)+`.dataset.state === "done"`)
		app.waitValue("fan_controller.active", fmt.Sprintf("become %v", on), liveTimeout, func(v any) bool { return v == on })
		if _, ok := app.findLog(regexp.MustCompile(fmt.Sprintf(`\[controllers\] fan controller active=%v`, on)), from, liveTimeout); !ok {
			t.Fatalf("the controllers' process did not log the call activate(%v)", on)
		}
		if e := browsertest.Eval[string](p, js(sw+" .w-error")+`?.textContent ?? ""`); e != "" {
			t.Errorf("after activate(%v): error %q shown", on, e)
		}
	}
}

// On a phone (390x844), the panels stack in a single column and the page
// does not scroll sideways.
func TestDashboardPhone(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app, browsertest.Mobile(390, 844, 2))
	gauge, chart := js(widget("fan_controller.fan_speed", "gauge")), js(widget("cpu_load", "chart"))
	browsertest.Wait[bool](p, pageTimeout, "the gauge and the chart", fmt.Sprintf(`!!%s && !!%s`, gauge, chart))
	if w := browsertest.Eval[[]float64](p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
		t.Errorf("the page is %v px wide in a %v px viewport: it scrolls sideways", w[0], w[1])
	}
	r := browsertest.Eval[[]float64](p, fmt.Sprintf(`(() => { const g = %s.getBoundingClientRect(), c = %s.getBoundingClientRect(); return [g.bottom, c.top, c.right, innerWidth] })()`, gauge, chart))
	if r[1] < r[0] {
		t.Errorf("the chart (top %v) is beside the gauge (bottom %v), not below it", r[1], r[0])
	}
	if r[2] > r[3] {
		t.Errorf("the chart ends at %v px, beyond the %v px viewport", r[2], r[3])
	}
}

// The slider writes the unlinked input max_speed in the controllers'
// process; a number entry beyond its range is refused, and the refusal
// shows next to the widget.
func TestDashboardSliderAndRefusal(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app)
	slider := widget("fan_controller.max_speed", "slider")
	rangeInput := slider + " input[type=range]"
	browsertest.Wait[bool](p, pageTimeout, "the slider at 100 (max_speed's initial value)", js(rangeInput)+`?.value === "100"`)
	if mn, mx := browsertest.Eval[string](p, js(rangeInput)+`.min`), browsertest.Eval[string](p, js(rangeInput)+`.max`); mn != "0" || mx != "100" {
		t.Errorf("slider min/max %q/%q; want 0/100 from the catalogue", mn, mx)
	}

	// Click at about a third of the slider's track: the browser moves the
	// thumb there and fires change, as for a user.
	p.Do(pageTimeout, chromedp.ScrollIntoView(rangeInput))
	rect := browsertest.Eval[[]float64](p, `(() => { const r = `+js(rangeInput)+`.getBoundingClientRect(); return [r.left, r.top, r.width, r.height] })()`)
	p.Do(pageTimeout, chromedp.MouseClickXY(rect[0]+rect[2]/3, rect[1]+rect[3]/2))
	shown := browsertest.Wait[string](p, pageTimeout, "the slider to move", `(() => { const v = `+js(rangeInput)+`.value; return v !== "100" && v })()`)
	want, err := strconv.ParseFloat(shown, 64)
	if err != nil || want <= 0 || want >= 100 {
		t.Fatalf("slider value %q after a click at a third of it", shown)
	}
	app.waitValue("fan_controller.max_speed", fmt.Sprintf("become %v (the slider's value)", want), liveTimeout, func(v any) bool { return v == want })
	browsertest.Wait[bool](p, pageTimeout, "the slider widget's data-value to follow", fmt.Sprintf(`%s.dataset.value === %q`, js(slider), shown))

	// The slider's number entry: 150 is beyond max_speed's range
	// (0..100), refused by the owner; the error shows, and the entry
	// returns to the value the server holds.
	entry := slider + " input[type=number]"
	sameNumber := fmt.Sprintf(`Math.abs(Number(%s.value) - %v) < 1e-6`, js(entry), want) // inputs may round float noise
	browsertest.Wait[bool](p, pageTimeout, "the number entry to show the slider's value", sameNumber)
	typeInto(p, entry, "150"+kb.Enter)
	msg := browsertest.Wait[string](p, pageTimeout, "the refusal of 150 in .w-error",
		`(() => { const e = `+js(slider+" .w-error")+`; return e && e.offsetParent !== null && e.textContent.trim() })()`)
	t.Logf("refusal shown: %q", msg)
	if role := browsertest.Eval[string](p, js(slider+" .w-error")+`.getAttribute("role") ?? ""`); role != "alert" {
		t.Errorf(".w-error role %q; want alert", role)
	}
	browsertest.Wait[bool](p, pageTimeout, "the entry to return to the server's value", sameNumber)
	if v, _, err := app.value("fan_controller.max_speed"); err != nil || v != want {
		t.Errorf("max_speed %v (%v) after the refused 150; want %v", v, err, want)
	}

	// A valid entry clears the error.
	typeInto(p, entry, "55"+kb.Enter)
	app.waitValue("fan_controller.max_speed", "become 55", liveTimeout, func(v any) bool { return v == 55.0 })
	browsertest.Wait[bool](p, pageTimeout, "the error cleared by the next success",
		`(() => { const e = `+js(slider+" .w-error")+`; return !e || e.offsetParent === null || e.textContent.trim() === "" })()`)
	browsertest.Wait[bool](p, pageTimeout, "the slider to follow the entry", js(rangeInput)+`.value === "55"`)
}

// A chart shows the history after a reload: more points at once than live
// values could have brought since.
func TestDashboardChartHistory(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app)
	chart := widget("cpu_load", "chart")
	browsertest.Wait[bool](p, pageTimeout, "the chart to plot", fmt.Sprintf(`Number(%s?.dataset.points) >= 2`, js(chart)))

	// The sensor reads every second: wait for a history of 10 points.
	const hist = 10
	for deadline := time.Now().Add(hist*time.Second + liveTimeout); ; {
		n, err := app.history("cpu_load")
		if err != nil {
			t.Fatal(err)
		}
		if n >= hist {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the history of cpu_load has %d points; want %d", n, hist)
		}
		time.Sleep(200 * time.Millisecond) // polling with a deadline
	}

	// Live values alone bring one point at load (the latest value) and one
	// a second since: a chart that plots more right after the reload has
	// loaded the history.
	start := time.Now()
	p.Do(pageTimeout, chromedp.Reload())
	got := browsertest.Wait[string](p, pageTimeout, "the chart to plot at least half the history",
		fmt.Sprintf(`(() => { const n = %s?.dataset.points; return Number(n) >= %d && n })()`, js(chart), hist/2))
	elapsed := time.Since(start)
	n, _ := strconv.Atoi(got)
	live := 2 + int(elapsed/time.Second) // the latest value, one a second, one for a second begun
	if n <= live {
		t.Fatalf("%v after the reload, the chart plots %d points, no more than live values could bring (%d): the history of %d points was not loaded", elapsed, n, live, hist)
	}
	t.Logf("the chart plotted %d points %v after the reload (live values could bring at most %d)", n, elapsed.Round(time.Millisecond), live)
}

var controllersStarted = regexp.MustCompile(`\[controllers\] module process started pid=(\d+)`)

// The page recovers after the process that owns a value is killed: it
// stays connected, and the value updates again once kervi has restarted
// the module.
func TestDashboardModuleRestart(t *testing.T) {
	app := startFan(t)
	p := openDashboard(t, app)
	slider := widget("fan_controller.max_speed", "slider")
	entry := slider + " input[type=number]"
	waitChange(p, slider, "", "fan_controller.max_speed's value")

	logged := app.waitLog(controllersStarted, liveTimeout)[1]
	v := app.waitValue("kervi.module.controllers.pid", "be the logged pid "+logged, liveTimeout, func(v any) bool {
		return fmt.Sprint(v) == logged
	})
	pid, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		t.Fatalf("kervi.module.controllers.pid = %v: %v", v, err)
	}
	from := app.logLen()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the controllers' process %d: %v", pid, err)
	}
	m, ok := app.findLog(controllersStarted, from, 30*time.Second)
	if !ok || m[1] == logged {
		t.Fatalf("the controllers module was not restarted after its process %d was killed", pid)
	}
	t.Logf("controllers: process %d killed, %s started", pid, m[1])
	app.waitValue("kervi.module.controllers.pid", "be the new pid "+m[1], liveTimeout, func(v any) bool { return fmt.Sprint(v) == m[1] })

	// The page is still connected, and the values of the new process
	// show: a write through the page reaches it, and its new value comes
	// back to every widget of it.
	waitConnected(p)
	typeInto(p, entry, "42"+kb.Enter)
	app.waitValue("fan_controller.max_speed", "become 42 in the restarted process", liveTimeout, func(v any) bool { return v == 42.0 })
	browsertest.Wait[bool](p, pageTimeout, "the slider to show 42 from the restarted process", js(slider)+`.dataset.value === "42"`)
	waitConnected(p)

	// The System view shows the restarted process, and the crash among
	// the warnings and errors.
	p.Do(pageTimeout, chromedp.Click(`nav a[data-dashboard="_system"]`))
	row := `#health [data-module="controllers"]`
	browsertest.Wait[bool](p, pageTimeout, "the controllers' row to show the new pid "+m[1],
		fmt.Sprintf(`%s?.textContent.includes(%q)`, js(row), m[1]))
	rec := browsertest.Wait[string](p, pageTimeout, "a warning or error about the controllers in #logs",
		`(() => { const r = [...document.querySelectorAll("#logs .log-record")].find(r => /WARN|ERROR/.test(r.dataset.level) && r.textContent.includes("controllers")); return r && r.textContent })()`)
	t.Logf("System view: %q; log: %q", browsertest.Eval[string](p, js(row)+`.textContent`), rec)
}

// With users (-users FILE), the dashboard asks for a login: it shows no
// value before, refuses a wrong password with a message, and shows the
// dashboard after the right one.
func TestDashboardLogin(t *testing.T) {
	hash, err := dashboard.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# name:bcrypt-hash:groups\nann:"+hash+":family\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := startFan(t, "-users", users)
	if _, _, err := app.value("cpu_load"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("GET /api/values/cpu_load without a session: %v; want 401", err)
	}

	p := browsertest.New(t)
	p.Do(pageTimeout, chromedp.Navigate(app.URL))
	form := "form#login"
	browsertest.Wait[bool](p, pageTimeout, "the login form", js(form)+`?.offsetParent != null`)
	if n := browsertest.Eval[int](p, `document.querySelectorAll(".widget[data-value]").length`); n != 0 {
		t.Errorf("%d widgets with values shown before the login", n)
	}

	login := func(password string) {
		t.Helper()
		typeInto(p, form+` input[name=user]`, "ann")
		typeInto(p, form+` input[name=password]`, password)
		p.Do(pageTimeout, chromedp.Click(form+` button[type=submit]`))
	}
	login("wrong horse")
	msg := browsertest.Wait[string](p, pageTimeout, "the refusal in #login-error",
		`(() => { const e = `+js("#login-error")+`; return e && e.offsetParent !== null && e.textContent.trim() })()`)
	t.Logf("wrong password: %q", msg)
	if n := browsertest.Eval[int](p, `document.querySelectorAll(".widget[data-value]").length`); n != 0 {
		t.Errorf("%d widgets with values shown after a wrong password", n)
	}

	login("correct horse")
	waitConnected(p)
	cpu := widget("cpu_load", "value")
	waitChange(p, cpu, "", "the CPU load's value after the login")
	waitLiveCPU(p, "a new live CPU load value after the login")
	browsertest.Wait[bool](p, pageTimeout, "the logout button", `!!`+js("#logout"))
	browsertest.Wait[bool](p, pageTimeout, "the login form hidden", `!`+js(form)+` || `+js(form)+`.offsetParent === null`)
}

var screenshots = flag.Bool("screenshots", false, "write the README's screenshots of the dashboard to docs/img (go generate ./examples/fan)")

// TestScreenshots writes the README's screenshots of the example's
// dashboard, on a desktop (1280x800) and on a phone (390x844), to docs/img:
// only with -screenshots (go generate ./examples/fan), never in a plain
// test run. It waits for half a minute of history so that the chart has
// something to show.
func TestScreenshots(t *testing.T) {
	if !*screenshots {
		t.Skip("screenshots are made on request: go generate ./examples/fan (go test -run TestScreenshots -screenshots)")
	}
	app := startFan(t, "-load=true") // the demo load makes a chart worth showing
	for deadline := time.Now().Add(2 * time.Minute); ; {
		n, err := app.history("cpu_load")
		if err != nil {
			t.Fatal(err)
		}
		if n >= 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the history of cpu_load has %d points after 2 min; want 30", n)
		}
		time.Sleep(500 * time.Millisecond) // polling with a deadline
	}
	dir := filepath.Join("..", "..", "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, shot := range []struct {
		file string
		opt  browsertest.Option
	}{
		{"dashboard-desktop.png", browsertest.Viewport(1280, 800)},
		{"dashboard-phone.png", browsertest.Mobile(390, 844, 2)},
	} {
		p := openDashboard(t, app, shot.opt)
		browsertest.Wait[bool](p, pageTimeout, "the chart's history", fmt.Sprintf(`Number(%s?.dataset.points) >= 30`, js(widget("cpu_load", "chart"))))
		browsertest.Wait[bool](p, pageTimeout, "the gauge's value", js(widget("fan_controller.fan_speed", "gauge"))+`?.dataset.value > ""`)
		browsertest.Wait[bool](p, pageTimeout, "the transitions to end (the gauge's arc)", `document.getAnimations().every(a => a.playState !== "running")`)
		png := browsertest.Run(p, pageTimeout, chromedp.CaptureScreenshot())
		path := filepath.Join(dir, shot.file)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
}
