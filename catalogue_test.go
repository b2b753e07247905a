package kervi_test

// The catalogue across processes (issue 6, section 1): a module follows
// the catalogue of another module's components, as a dashboard would; it
// sees entries retired when their module no longer declares them after a
// restart, and when their module failed for good; pattern subscriptions
// with a module filter; a slow latest-only follower of everything.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

func init() {
	// "catalogue": a greenhouse module with a controller, a sensor and an
	// action with typed parameters; a visitor module owning an id in the
	// greenhouse's namespace; a module that can be made to fail for good;
	// and a watcher that follows the catalogue and a pattern.
	testApps["catalogue"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{greenhouseModule(), visitorModule(), doomedModule(), watcherModule()}, opts...)
	}
	// "latest": a module publishing bursts on many ids, and a dashboard that
	// follows every id, latest only, slowly.
	testApps["latest"] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{burstModule(), dashModule()}, opts...)
	}
}

// greenhouseModule declares "greenhouse.legacy" only in its first process.
func greenhouseModule() kervi.Module {
	return kervi.Module{Name: "greenhouse", Setup: func(ctx context.Context, b *ipc.Bus) error {
		c := controllers.New(b, "greenhouse.climate", "Climate", nil)
		c.Inputs().Number("temp", "Temperature", values.Unit("°C"), values.Range(0, 50))
		c.Inputs().Enum("mode", "Mode", values.WithChoice("auto", "Automatic"), values.WithChoice("off", "Off"))
		fan := c.Outputs().Number("fan", "Fan", values.Unit("%"))
		c.Action("boost", func(level float64) error { return fan.Set(level) })
		air := fake.New(sensors.Description{Unit: "°C", Min: new(-40.0), Max: new(80.0), Dimensions: sensors.Labels("temp", "hum")}, []float64{20, 60})
		sensors.New(b, "greenhouse.air", "Air", air, sensors.Interval(time.Hour))
		err := b.RegisterAction(ipc.Description{ID: "greenhouse.water", Name: "Water",
			Params: []ipc.Param{{Name: "litres", Type: ipc.DataType{Kind: ipc.DataFloat}}, {Name: "beds", Type: ipc.DataType{Kind: ipc.DataList, Elem: &ipc.DataType{Kind: ipc.DataString}}}},
			Result: &ipc.DataType{Kind: ipc.DataBool}},
			func(context.Context, ipc.Args) (any, error) { return true, nil })
		if err != nil {
			return err
		}
		first := filepath.Join(os.Getenv(envDir), "greenhouse.started")
		if _, err := os.Stat(first); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(first, nil, 0o600); err != nil {
				return err
			}
			values.NewBool(b, "greenhouse.legacy", "Legacy")
		}
		reg := register(b)
		reg("greenhouse.set_fan", func(v float64) error { return fan.Set(v) })
		reg("greenhouse.pid", os.Getpid)
		return nil
	}}
}

func visitorModule() kervi.Module {
	return kervi.Module{Name: "visitor", Setup: func(ctx context.Context, b *ipc.Bus) error {
		v := values.NewNumber(b, "greenhouse.visitor", "Visitor", values.Output())
		actions.Register(b, "visitor.set", func(x float64) error { return v.Set(x) })
		return nil
	}}
}

// doomedModule dies as soon as the application is ready, once told to
// (a file in $KERVI_TEST_DIR says so), in every process after that.
func doomedModule() kervi.Module {
	return kervi.Module{Name: "doomed", Setup: func(ctx context.Context, b *ipc.Bus) error {
		doom := filepath.Join(os.Getenv(envDir), "doomed")
		values.NewNumber(b, "doomed.x", "X")
		b.OnAppReady(func(context.Context) {
			if _, err := os.Stat(doom); err == nil {
				os.Exit(9)
			}
		})
		actions.Register(b, "doomed.doom", func() {
			os.WriteFile(doom, nil, 0o600)
			os.Exit(9)
		})
		return nil
	}}
}

// watcherModule follows the catalogue as a dashboard would, keeping its
// own copy, and the greenhouse's values by pattern, with and without the
// module filter.
func watcherModule() kervi.Module {
	return kervi.Module{Name: "watcher", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var mu sync.Mutex
		changed := make(chan struct{})
		var changes, ofGreenhouse, all []string
		entries := map[string]ipc.Description{}
		add := func(list *[]string, s string) {
			mu.Lock()
			*list = append(*list, s)
			close(changed)
			changed = make(chan struct{})
			mu.Unlock()
		}
		if _, err := b.FollowCatalogue(func(c ipc.CatalogueChange) {
			mu.Lock()
			switch c.Kind {
			case ipc.ChangeAnnounced:
				entries[c.Description.ID] = c.Description
			case ipc.ChangeRetired:
				delete(entries, c.Description.ID)
			}
			mu.Unlock()
			add(&changes, strings.TrimSpace(c.Kind.String()+" "+c.Description.ID))
		}); err != nil {
			return err
		}
		event := func(list *[]string) func(ipc.Event) {
			return func(ev ipc.Event) { add(list, fmt.Sprintf("%s=%v", ev.ID, ev.Value)) }
		}
		if _, err := b.SubscribePattern("greenhouse.>", event(&ofGreenhouse), ipc.OwnedBy("greenhouse")); err != nil {
			return err
		}
		if _, err := b.SubscribePattern("greenhouse.*", event(&all)); err != nil {
			return err
		}
		lists := map[string]*[]string{"changes": &changes, "greenhouse": &ofGreenhouse, "all": &all}
		reg := register(b)
		// catalogue returns the watcher's copy of the catalogue, as JSON.
		reg("watcher.catalogue", func() (string, error) {
			mu.Lock()
			defer mu.Unlock()
			var out []ipc.Description
			for _, d := range entries {
				out = append(out, d)
			}
			slices.SortFunc(out, func(a, b ipc.Description) int { return strings.Compare(a.ID, b.ID) })
			j, err := json.Marshal(out)
			return string(j), err
		})
		reg("watcher.list", func(name string) []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string{}, *lists[name]...)
		}, actions.WithMode(actions.Concurrent))
		// wait waits until the list name holds line.
		reg("watcher.wait", func(ctx context.Context, name, line string) error {
			for {
				mu.Lock()
				found, ch := slices.Contains(*lists[name], line), changed
				mu.Unlock()
				if found {
					return nil
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return fmt.Errorf("no %q in %s: %w", line, name, ctx.Err())
				}
			}
		}, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// The greenhouse's catalogue as the watcher sees it.
func greenhouseCatalogue() []ipc.Description {
	c := func(d ipc.Description) ipc.Description {
		if d.Module == "" {
			d.Module = "greenhouse"
		}
		return d
	}
	// Actions describe their parameters as actions.Register finds them.
	float1 := []ipc.Param{{Name: "arg1", Type: ipc.DataType{Kind: ipc.DataFloat}}}
	return []ipc.Description{
		c(ipc.Description{ID: "greenhouse.air", Kind: ipc.KindSensor, Name: "Air", Unit: "°C", Min: new(-40.0), Max: new(80.0)}),
		c(ipc.Description{ID: "greenhouse.air.hum", Kind: ipc.KindValue, Name: "Air hum", Parent: "greenhouse.air", Type: ipc.TypeNumber, Unit: "°C", Min: new(-40.0), Max: new(80.0)}),
		c(ipc.Description{ID: "greenhouse.air.temp", Kind: ipc.KindValue, Name: "Air temp", Parent: "greenhouse.air", Type: ipc.TypeNumber, Unit: "°C", Min: new(-40.0), Max: new(80.0)}),
		c(ipc.Description{ID: "greenhouse.climate", Kind: ipc.KindController, Name: "Climate"}),
		c(ipc.Description{ID: "greenhouse.climate.boost", Kind: ipc.KindAction, Name: "boost", Parent: "greenhouse.climate", Params: float1}),
		c(ipc.Description{ID: "greenhouse.climate.fan", Kind: ipc.KindValue, Name: "Fan", Parent: "greenhouse.climate", Type: ipc.TypeNumber, Unit: "%"}),
		c(ipc.Description{ID: "greenhouse.climate.mode", Kind: ipc.KindValue, Name: "Mode", Parent: "greenhouse.climate", Type: ipc.TypeEnum, Input: true,
			Choices: []ipc.Choice{{Value: "auto", Text: "Automatic"}, {Value: "off", Text: "Off"}}}),
		c(ipc.Description{ID: "greenhouse.climate.temp", Kind: ipc.KindValue, Name: "Temperature", Parent: "greenhouse.climate", Type: ipc.TypeNumber, Input: true,
			Unit: "°C", Min: new(0.0), Max: new(50.0)}),
		c(ipc.Description{ID: "greenhouse.legacy", Kind: ipc.KindValue, Name: "Legacy", Type: ipc.TypeBool, Input: true}),
		c(ipc.Description{ID: "greenhouse.pid", Kind: ipc.KindAction, Name: "greenhouse.pid", Result: &ipc.DataType{Kind: ipc.DataInt}}),
		c(ipc.Description{ID: "greenhouse.set_fan", Kind: ipc.KindAction, Name: "greenhouse.set_fan", Params: float1}),
		c(ipc.Description{ID: "greenhouse.visitor", Kind: ipc.KindValue, Module: "visitor", Name: "Visitor", Type: ipc.TypeNumber}),
		c(ipc.Description{ID: "greenhouse.water", Kind: ipc.KindAction, Name: "Water",
			Params: []ipc.Param{{Name: "litres", Type: ipc.DataType{Kind: ipc.DataFloat}}, {Name: "beds", Type: ipc.DataType{Kind: ipc.DataList, Elem: &ipc.DataType{Kind: ipc.DataString}}}},
			Result: &ipc.DataType{Kind: ipc.DataBool}}),
	}
}

// watcherCatalogue returns the watcher's copy of the greenhouse's entries.
func watcherCatalogue(t *testing.T, r *running) []ipc.Description {
	t.Helper()
	var all, out []ipc.Description
	if err := json.Unmarshal([]byte(r.call(t, "watcher.catalogue").(string)), &all); err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if strings.HasPrefix(d.ID, "greenhouse.") {
			out = append(out, d)
		}
	}
	return out
}

// list returns one of the watcher's lists.
func list(t *testing.T, r *running, name string) []string {
	t.Helper()
	var out []string
	for _, s := range r.call(t, "watcher.list", name).([]any) {
		out = append(out, s.(string))
	}
	return out
}

// catalogueApp starts the application "catalogue" and waits until the
// watcher has seen every module's entries.
func catalogueApp(t *testing.T) *running {
	t.Setenv(envDir, t.TempDir())
	r := startApp(t, "catalogue")
	r.call(t, "watcher.wait", "changes", "synced")
	for _, d := range greenhouseCatalogue() {
		r.call(t, "watcher.wait", "changes", "announced "+d.ID)
	}
	for _, id := range []string{"doomed.x", "doomed.doom", "visitor.set"} {
		r.call(t, "watcher.wait", "changes", "announced "+id)
	}
	return r
}

// A module follows the catalogue of the others' components: their kinds,
// owners, types, units, ranges, choices with their texts, parents and
// action parameters; the parent reads the same.
func TestModuleFollowsCatalogue(t *testing.T) {
	r := catalogueApp(t)
	want := greenhouseCatalogue()
	if got := watcherCatalogue(t, r); !reflect.DeepEqual(got, want) {
		t.Fatalf("the watcher's catalogue:\n%s\nwant:\n%s", describeAll(got), describeAll(want))
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	fromMain, err := r.app.Bus().Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromMain, r.app.Components()) {
		t.Fatalf("the parent's bus and its hub disagree:\n%s\n%s", describeAll(fromMain), describeAll(r.app.Components()))
	}
	var ofGreenhouse []ipc.Description
	for _, d := range fromMain {
		if strings.HasPrefix(d.ID, "greenhouse.") {
			ofGreenhouse = append(ofGreenhouse, d)
		}
	}
	if !reflect.DeepEqual(ofGreenhouse, want) {
		t.Fatalf("the parent's catalogue:\n%s", describeAll(ofGreenhouse))
	}
}

func describeAll(ds []ipc.Description) string {
	var b strings.Builder
	for _, d := range ds {
		j, _ := json.Marshal(d)
		b.WriteString(string(j) + "\n")
	}
	return b.String()
}

// An entry is retired when its module restarted and no longer declares it,
// and when its module failed for good; each retirement is told once, and a
// restart that declares the same entries retires nothing.
func TestCatalogueRetirements(t *testing.T) {
	r := catalogueApp(t)
	before := len(list(t, r, "changes"))
	pid := r.call(t, "greenhouse.pid").(int64)
	if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "greenhouse", kervi.StateRestarting)
	r.waitState(t, "greenhouse", kervi.StateReady)
	r.call(t, "watcher.wait", "changes", "retired greenhouse.legacy")

	if _, err := r.app.Bus().Call(r.ctx, "doomed.doom"); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Fatalf("doomed.doom: %v, want the module gone", err)
	}
	r.waitState(t, "doomed", kervi.StateFailed)
	r.call(t, "watcher.wait", "changes", "retired doomed.x")

	changes := list(t, r, "changes")
	var retired []string
	for _, c := range changes[before:] {
		switch id, ok := strings.CutPrefix(c, "retired "); {
		case ok:
			retired = append(retired, id)
		case strings.HasPrefix(c, "announced watcher."): // the watcher's own, registered after it began to follow
		default:
			t.Errorf("unexpected change %q (the restarts announced the same entries)", c)
		}
	}
	if want := []string{"greenhouse.legacy", "doomed.doom", "doomed.x"}; !slices.Equal(retired, want) {
		t.Fatalf("retired %q, want %q; changes: %q", retired, want, changes)
	}
	want := slices.DeleteFunc(greenhouseCatalogue(), func(d ipc.Description) bool { return d.ID == "greenhouse.legacy" })
	if got := watcherCatalogue(t, r); !reflect.DeepEqual(got, want) {
		t.Fatalf("the watcher's catalogue after the restart:\n%s", describeAll(got))
	}
}

// A pattern subscription follows the values whose ids match, in other
// processes, from their current content on; the module filter keeps out
// another module's value in the same namespace.
func TestPatternSubscriptionWithModuleFilter(t *testing.T) {
	r := catalogueApp(t)
	// Current contents first: the sensor's first reading.
	r.call(t, "watcher.wait", "greenhouse", "greenhouse.air.temp=20")
	r.call(t, "watcher.wait", "greenhouse", "greenhouse.air.hum=60")
	r.call(t, "greenhouse.set_fan", 55)
	r.call(t, "visitor.set", 7)
	r.call(t, "watcher.wait", "greenhouse", "greenhouse.climate.fan=55")
	r.call(t, "watcher.wait", "all", "greenhouse.visitor=7")
	r.call(t, "greenhouse.set_fan", 56)
	r.call(t, "watcher.wait", "greenhouse", "greenhouse.climate.fan=56")
	for _, s := range list(t, r, "greenhouse") {
		if strings.HasPrefix(s, "greenhouse.visitor") {
			t.Fatalf("a value of module visitor reached the subscription filtered to greenhouse: %q", list(t, r, "greenhouse"))
		}
	}
	for _, s := range list(t, r, "all") {
		if strings.HasPrefix(s, "greenhouse.climate.") || strings.HasPrefix(s, "greenhouse.air.") {
			t.Fatalf("greenhouse.* matched an id of three tokens or more: %q", list(t, r, "all"))
		}
	}
}

// burstModule owns burst.0 .. burst.19 and publishes n events on each, as
// fast as it can.
func burstModule() kervi.Module {
	const ids = 20
	return kervi.Module{Name: "burst", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var vals []*values.Number
		for i := range ids {
			vals = append(vals, values.NewNumber(b, fmt.Sprintf("burst.%d", i), "Burst", values.Output()))
		}
		reg := register(b)
		reg("burst.run", func(n int) error {
			for x := range n {
				for _, v := range vals {
					if err := v.Set(float64(x)); err != nil {
						return err
					}
				}
			}
			return nil
		})
		// followed reports whether another process follows a value in full.
		reg("burst.followed", func() bool {
			return slices.ContainsFunc(vals, func(v *values.Number) bool { return v.Followed() })
		})
		return nil
	}}
}

// dashModule follows every id, latest only, and takes a millisecond per
// event, as a dashboard rendering each would.
func dashModule() kervi.Module {
	return kervi.Module{Name: "dash", Setup: func(ctx context.Context, b *ipc.Bus) error {
		var mu sync.Mutex
		last := map[string]float64{}
		seen, disorder := 0, 0
		changed := make(chan struct{})
		if _, err := b.SubscribePattern(">", func(ev ipc.Event) {
			time.Sleep(time.Millisecond) // the work of rendering it, not a synchronisation
			mu.Lock()
			defer mu.Unlock()
			if !strings.HasPrefix(ev.ID, "burst.") {
				return
			}
			if prev, ok := last[ev.ID]; ok && ev.Value.Number() < prev {
				disorder++
			}
			last[ev.ID] = ev.Value.Number()
			seen++
			close(changed)
			changed = make(chan struct{})
		}, ipc.LatestOnly()); err != nil {
			return err
		}
		// wait returns how many events the dashboard saw, once every burst
		// id ended on v, and how many arrived out of order.
		actions.Register(b, "dash.wait", func(ctx context.Context, ids int, v float64) ([]int, error) {
			for {
				mu.Lock()
				done := len(last) == ids
				for _, x := range last {
					done = done && x == v
				}
				out, ch := []int{seen, disorder}, changed
				mu.Unlock()
				if done {
					return out, nil
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return nil, fmt.Errorf("the dashboard saw %v: %w", last, ctx.Err())
				}
			}
		}, actions.WithMode(actions.Concurrent))
		return nil
	}}
}

// A slow latest-only follower of every id, in another process, ends on the
// latest value of each, in order, having seen a fraction of the events;
// and it does not make the publisher send every event.
func TestSlowLatestOnlyFollowerAcrossProcesses(t *testing.T) {
	r := startApp(t, "latest")
	const ids, n = 20, 2000
	r.call(t, "burst.run", n)
	res := r.call(t, "dash.wait", ids, n-1).([]any)
	seen, disorder := res[0].(int64), res[1].(int64)
	if disorder != 0 {
		t.Fatalf("%d events out of order", disorder)
	}
	if seen > ids*n/4 {
		t.Fatalf("the dashboard saw %d of %d events: they were not coalesced", seen, ids*n)
	}
	t.Logf("the dashboard saw %d of %d events", seen, ids*n)
	if r.call(t, "burst.followed").(bool) {
		t.Fatal("a latest-only follower counts as interest: the publisher sends every event")
	}
}
