package kervi_test

// Reading, describing and calling across real processes: typed reads,
// structs as action arguments and results, and links whose source is
// missing or of another type, reported once.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// The data of the "structs" application's actions.
type (
	point struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
	}
	stop struct {
		At    point         `json:"at"`
		Wait  time.Duration `json:"wait"`
		Label string        `json:"label,omitempty"`
	}
	leg struct {
		From  point  `json:"from"`
		Stops []stop `json:"stops"`
	}
	route struct {
		Name  string    `json:"name"`
		Start time.Time `json:"start"`
		Legs  []leg     `json:"legs"`
		Note  *string   `json:"note,omitempty"`
		Tags  map[string][]string
	}
	plan struct {
		Route  route     `json:"route"`
		Stops  int       `json:"stops"`
		Finish time.Time `json:"finish"`
		By     string    `json:"by"`
	}
)

func init() {
	testApps["structs"] = func(opts []kervi.Option) (*kervi.Application, error) {
		planner := kervi.Module{Name: "planner", Setup: func(ctx context.Context, b *ipc.Bus) error {
			return actions.Register(b, "planner.plan", func(r route, speed float64) (plan, error) {
				p := plan{Route: r, Finish: r.Start, By: "planner"}
				for _, l := range r.Legs {
					for _, s := range l.Stops {
						p.Stops++
						p.Finish = p.Finish.Add(s.Wait + time.Duration(float64(time.Second)*(s.At.X+s.At.Y)/speed))
					}
				}
				return p, nil
			}, actions.Params("route", "speed")).Err()
		}}
		// caller calls the planner from its own process.
		caller := kervi.Module{Name: "caller", Setup: func(ctx context.Context, b *ipc.Bus) error {
			return actions.Register(b, "caller.plan", func(ctx context.Context, r route) (plan, error) {
				return actions.CallAs[plan](ctx, "planner.plan", r, 2.0)
			}).Err()
		}}
		return kervi.NewApplication([]kervi.Module{planner, caller}, opts...)
	}
	testApps["links"] = func(opts []kervi.Option) (*kervi.Application, error) {
		sys := kervi.Module{Name: "sys", Setup: func(ctx context.Context, b *ipc.Bus) error {
			mode := values.NewString(b, "sys.mode", "Mode", values.Output())
			if err := mode.Err(); err != nil {
				return err
			}
			if err := values.NewNumber(b, "sys.load", "Load", values.Output(), values.Initial(5)).Err(); err != nil {
				return err
			}
			return actions.Register(b, "sys.burst", func(n int) error {
				for i := range n {
					if err := mode.Set(fmt.Sprint("mode ", i)); err != nil {
						return err
					}
				}
				return nil
			}).Err()
		}}
		fan := kervi.Module{Name: "fan", Setup: func(ctx context.Context, b *ipc.Bus) error {
			link := func(id, source string) error {
				v := values.NewNumber(b, id, id)
				if err := v.Err(); err != nil {
					return err
				}
				_, err := v.Link(source, nil)
				return err
			}
			if err := link("fan.temp", "cpu_lod"); err != nil { // nobody owns cpu_lod
				return err
			}
			if err := link("fan.speed", "sys.mode"); err != nil { // a string
				return err
			}
			if err := link("fan.load", "sys.load"); err != nil { // fine
				return err
			}
			var mu sync.Mutex
			seen := 0
			changed := make(chan struct{}, 1)
			if _, err := b.Subscribe("sys.mode", func(ipc.Event) {
				mu.Lock()
				seen++
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
			}); err != nil {
				return err
			}
			if err := actions.Register(b, "fan.wait", func(ctx context.Context, n int) error {
				for {
					mu.Lock()
					done := seen >= n
					mu.Unlock()
					if done {
						return nil
					}
					select {
					case <-changed:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}, actions.WithMode(actions.Concurrent)).Err(); err != nil {
				return err
			}
			if err := actions.Register(b, "fan.mark", func(s string) { b.Logger().Warn(s) }).Err(); err != nil {
				return err
			}
			return actions.Register(b, "fan.read", func(ctx context.Context, id string) (float64, error) {
				return ipc.Get[float64](ctx, id)
			}).Err()
		}}
		return kervi.NewApplication([]kervi.Module{sys, fan}, opts...)
	}
}

func TestStructsCrossProcesses(t *testing.T) {
	r := startApp(t, "structs")
	note := "by the river"
	start := time.Date(2026, 3, 29, 1, 30, 0, 0, time.FixedZone("CET", 3600))
	in := route{
		Name: "morning", Start: start, Note: &note,
		Legs: []leg{
			{From: point{0, 0}, Stops: []stop{{At: point{1, 1}, Wait: time.Minute, Label: "gate"}, {At: point{3, 1}}}},
			{From: point{3, 1}, Stops: []stop{{At: point{5, 5}, Wait: 30 * time.Second}}},
		},
		Tags: map[string][]string{"season": {"spring"}},
	}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	check := func(p plan, err error, travel time.Duration) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		want := start.Add(90*time.Second + travel) // waits, and the way from stop to stop
		if p.Stops != 3 || !p.Finish.Equal(want) || p.By != "planner" || p.Route.Name != "morning" || !p.Route.Start.Equal(start) ||
			p.Route.Note == nil || *p.Route.Note != note || len(p.Route.Legs) != 2 || len(p.Route.Legs[0].Stops) != 2 ||
			p.Route.Legs[0].Stops[0] != in.Legs[0].Stops[0] || p.Route.Legs[1].Stops[0] != in.Legs[1].Stops[0] ||
			p.Route.Tags["season"][0] != "spring" {
			t.Fatalf("plan %+v", p)
		}
	}
	// From the parent to a module, and from a module to another.
	p, err := actions.CallAs[plan](ctx, "planner.plan", in, 1.0)
	check(p, err, 16*time.Second)
	p, err = actions.CallAs[plan](ctx, "caller.plan", in) // at speed 2
	check(p, err, 8*time.Second)

	// A wrong argument names the field.
	_, err = actions.Call(ctx, "planner.plan", map[string]any{"legs": []any{map[string]any{"stops": []any{map[string]any{"at": map[string]any{"x": "east"}}}}}}, 1)
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `argument 1 (route) of (kervi_test.route, float64): field "legs[0].stops[0].at.x": want a number, got a string ("east")`) {
		t.Fatalf("bad argument: %v", err)
	}

	// The catalogue describes the parameters and the result.
	d, err := r.app.Bus().Describe(ctx, "planner.plan")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Params) != 2 || d.Params[0].Name != "route" || d.Params[1].Name != "speed" || d.Params[1].Type.Kind != ipc.DataFloat {
		t.Fatalf("params %+v", d.Params)
	}
	legs := d.Params[0].Type.Fields[2]
	if d.Params[0].Type.Name != "route" || legs.Name != "legs" || legs.Type.Kind != ipc.DataList || legs.Type.Elem.Name != "leg" ||
		legs.Type.Elem.Fields[1].Type.Elem.Fields[1].Name != "wait" || legs.Type.Elem.Fields[1].Type.Elem.Fields[1].Type.Kind != ipc.DataDuration {
		t.Fatalf("route %+v", d.Params[0].Type)
	}
	if d.Result == nil || d.Result.Name != "plan" || d.Result.Fields[2].Name != "finish" || d.Result.Fields[2].Type.Kind != ipc.DataTime {
		t.Fatalf("result %+v", d.Result)
	}
}

func TestReadsAndLinksAcrossProcesses(t *testing.T) {
	r := startApp(t, "links")
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()

	// Typed reads, from the parent and from a module.
	if v, err := ipc.Get[float64](ctx, "sys.load"); err != nil || v != 5 {
		t.Fatalf("read from the parent: %v, %v", v, err)
	}
	if v := r.call(t, "fan.read", "sys.load"); v != 5.0 {
		t.Fatalf("read from a module: %v", v)
	}
	if _, err := ipc.Get[float64](ctx, "sys.mode"); !errors.Is(err, ipc.ErrNoValue) {
		t.Fatalf("read of a value with no content: %v", err)
	}
	if _, err := ipc.Get[string](ctx, "sys.load"); !errors.Is(err, ipc.ErrWrongType) {
		t.Fatalf("read as the wrong type: %v", err)
	}
	if _, err := ipc.Get[float64](ctx, "sys.nothing"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("read of an unknown id: %v", err)
	}

	// Each bad link is reported once, naming both ids.
	r.logs.waitFor(t, "link fan.temp <- cpu_lod: no module owns cpu_lod")
	r.logs.waitFor(t, `link fan.speed <- sys.mode: sys.mode is a string value (module "sys"), fan.speed a number value`)
	r.call(t, "sys.burst", 20)
	r.call(t, "fan.wait", 20) // every update went past the link
	r.call(t, "fan.mark", "MARK after the updates")
	r.logs.waitFor(t, "MARK after the updates") // the module's log is in order
	log := strings.Join(r.logs.lines(), "\n")
	if n := strings.Count(log, "link fan.temp <- cpu_lod"); n != 1 {
		t.Errorf("the missing source was reported %d times:\n%s", n, log)
	}
	if n := strings.Count(log, "link fan.speed <- sys.mode"); n != 1 {
		t.Errorf("the mismatch was reported %d times:\n%s", n, log)
	}
	if strings.Contains(log, "fan.load") {
		t.Errorf("the good link was reported:\n%s", log)
	}
	if v, err := ipc.Get[float64](ctx, "fan.load"); err != nil || v != 5 {
		t.Fatalf("linked value: %v, %v", v, err)
	}
}
