package actions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

// node is a recursive type, which cannot cross processes.
type node struct {
	Next *node
}

func TestRegisterChecksSignature(t *testing.T) {
	h := testbus.New(t)
	b := h.Bus("m", nil)
	bad := map[string]any{
		"notfunc":   42,
		"recursive": func(node) {},
		"complex":   func(struct{ X complex128 }) {},
		"funcfield": func() struct{ F func() } { return struct{ F func() }{} },
		"intkeys":   func(map[int]string) {},
		"ctxlast":   func(int, context.Context) {},
		"results":   func() (int, int) { return 0, 0 },
		"chanres":   func() chan int { return nil },
		"errfirst":  func() (error, int) { return nil, 0 }, //lint:ignore ST1008 the mistake under test
	}
	for id, fn := range bad {
		if err := actions.Register(b, id, fn).Err(); err == nil || !strings.Contains(err.Error(), id) {
			t.Errorf("Register(%s) = %v; want an error naming it", id, err)
		}
	}
	if err := actions.Register(b, "bad id", func() {}).Err(); !errors.Is(err, ipc.ErrInvalidID) {
		t.Errorf("bad id: %v", err)
	}
	actions.Register(b, "x", func() {})
	if err := actions.Register(b, "x", func() {}).Err(); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Errorf("duplicate: %v", err)
	}
	// The setup fails with the first error, which names its action.
	if err := h.Setup("m", nil); err == nil || err != b.Err() {
		t.Errorf("setup: %v, want the first error %v", err, b.Err())
	}
}

// A private action is called by id in its own process, and is unknown to
// every other process and to the hub's catalogue.
func TestPrivateAction(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	other := h.Bus("other", nil)
	calls := 0
	a := actions.Register(owner, "owner.tick", func(n int) int { calls++; return n * 2 }, actions.Private())
	actions.Register(owner, "owner.public", func() {})
	if a.Err() != nil || !a.Private() {
		t.Fatalf("Err %v, Private %v", a.Err(), a.Private())
	}
	h.Run()
	ctx := ipc.NewContext(context.Background(), owner)
	if n, err := actions.CallAs[int](ctx, "owner.tick", 21); err != nil || n != 42 {
		t.Fatalf("local call = %v, %v", n, err)
	}
	if n, err := owner.Call(ctx, "owner.tick", 1); err != nil || n != int64(2) {
		t.Fatalf("bus call = %v, %v", n, err)
	}
	_, err := actions.Call(ipc.NewContext(context.Background(), other), "owner.tick", 1)
	if !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("call from another module: %v, want ErrUnknownID", err)
	}
	if calls != 2 {
		t.Fatalf("%d calls ran, want 2", calls)
	}
	// The application knows nothing of it: not in the catalogue, not
	// described; the public action is.
	if _, err := other.Describe(ctx, "owner.tick"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("describing the private action: %v, want ErrUnknownID", err)
	}
	entries, err := other.Catalogue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range entries {
		if c.ID == "owner.tick" {
			t.Fatalf("the catalogue lists the private action: %+v", c)
		}
	}
	if _, err := other.Describe(ctx, "owner.public"); err != nil {
		t.Fatalf("describing the public action: %v", err)
	}
	// Its id is taken in its process all the same.
	if err := actions.Register(owner, "owner.tick", func() {}).Err(); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("duplicate of a private action: %v", err)
	}
}

func TestCallsAcrossModules(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	caller := h.Bus("caller", nil)
	ctx := ipc.NewContext(context.Background(), caller)

	actions.Register(owner, "sum", func(xs ...float64) float64 {
		var s float64
		for _, x := range xs {
			s += x
		}
		return s
	})
	actions.Register(owner, "greet", func(ctx context.Context, name string, times int) (string, error) {
		if times < 0 {
			return "", errors.New("times must not be negative")
		}
		return strings.Repeat("hi "+name+" ", times), nil
	})
	actions.Register(owner, "activate", func(active bool) error { return nil })
	actions.Register(owner, "config", func(m map[string]int, at time.Time, d time.Duration) []string {
		return []string{at.UTC().Format("15:04"), d.String()}
	})
	h.Run()

	if s, err := actions.CallAs[float64](ctx, "sum", 1, 2, 3.5); err != nil || s != 6.5 {
		t.Fatalf("sum = %v, %v", s, err)
	}
	if s, err := actions.CallAs[string](ctx, "greet", "bob", 2); err != nil || s != "hi bob hi bob " {
		t.Fatalf("greet = %q, %v", s, err)
	}
	_, err := actions.Call(ctx, "greet", "bob", -1)
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "times must not be negative") || !strings.Contains(err.Error(), `"owner"`) {
		t.Fatalf("failing greet: %v", err)
	}
	_, err = actions.Call(ctx, "activate", "yes")
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), "argument 1") || !strings.Contains(err.Error(), "bool") {
		t.Fatalf("activate(\"yes\"): %v", err)
	}
	_, err = actions.Call(ctx, "activate")
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), "takes 1 argument") {
		t.Fatalf("activate(): %v", err)
	}
	_, err = actions.Call(ctx, "greet", "bob", 2.5)
	if !errors.Is(err, ipc.ErrBadArgs) {
		t.Fatalf("greet 2.5 times: %v", err)
	}
	at := time.Date(2026, 1, 2, 7, 45, 0, 0, time.UTC)
	res, err := actions.CallAs[[]string](ctx, "config", map[string]int{"a": 1}, at, 90*time.Second)
	if err != nil || len(res) != 2 || res[0] != "07:45" || res[1] != "1m30s" {
		t.Fatalf("config = %v, %v", res, err)
	}
	if _, err := actions.Call(ctx, "missing"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := actions.Call(context.Background(), "sum"); !errors.Is(err, ipc.ErrNoBus) {
		t.Fatalf("no bus: %v", err)
	}
	if _, err := actions.Call(ctx, "sum", make(chan int)); !errors.Is(err, ipc.ErrBadArgs) {
		t.Fatalf("chan argument: %v", err)
	}
	// A local call behaves as a remote one.
	lctx := ipc.NewContext(context.Background(), owner)
	if _, err := actions.Call(lctx, "activate", "yes"); !errors.Is(err, ipc.ErrBadArgs) {
		t.Fatalf("local bad args: %v", err)
	}
	if s, err := actions.Call(lctx, "sum", 1, 2); err != nil || s != 3.0 {
		t.Fatalf("local sum: %v %v", s, err)
	}
}

// blocker is an action that signals when it starts and runs until released.
type blocker struct {
	started chan int
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan int, 10), release: make(chan struct{})}
}

func (bl *blocker) run(ctx context.Context, n int) (int, error) {
	bl.started <- n
	select {
	case <-bl.release:
		return n, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func TestModes(t *testing.T) {
	h := testbus.New(t)
	owner := h.Bus("owner", nil)
	caller := h.Bus("caller", nil)
	ctx := ipc.NewContext(context.Background(), caller)
	serial, concurrent, reject := newBlocker(), newBlocker(), newBlocker()
	ser := actions.Register(owner, "serial", serial.run)
	actions.Register(owner, "concurrent", concurrent.run, actions.WithMode(actions.Concurrent))
	rej := actions.Register(owner, "reject", reject.run, actions.WithMode(actions.Reject))
	h.Run()

	type result struct {
		n   int64
		err error
	}
	call := func(id string, n int) chan result {
		ch := make(chan result, 1)
		go func() {
			r, err := actions.CallAs[int64](ctx, id, n)
			ch <- result{r, err}
		}()
		return ch
	}

	// Serial: the second call waits until the first returns.
	r1 := call("serial", 1)
	if n := testbus.Wait(t, serial.started, "first serial call"); n != 1 {
		t.Fatalf("started %d", n)
	}
	r2 := call("serial", 2)
	testbus.Eventually(t, "the second call to wait", func() bool { return ser.Waiting() == 1 })
	if ser.Running() != 1 {
		t.Fatalf("%d calls running", ser.Running())
	}
	serial.release <- struct{}{}
	if r := testbus.Wait(t, r1, "first result"); r.err != nil || r.n != 1 {
		t.Fatalf("first: %+v", r)
	}
	if n := testbus.Wait(t, serial.started, "second serial call"); n != 2 {
		t.Fatalf("started %d", n)
	}
	serial.release <- struct{}{}
	if r := testbus.Wait(t, r2, "second result"); r.err != nil || r.n != 2 {
		t.Fatalf("second: %+v", r)
	}
	// A waiting call gives up when its context ends.
	r3 := call("serial", 3)
	testbus.Wait(t, serial.started, "third")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := actions.Call(wctx, "serial", 4); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting call: %v", err)
	}
	serial.release <- struct{}{}
	testbus.Wait(t, r3, "third result")

	// Concurrent: both run at once.
	c1, c2 := call("concurrent", 1), call("concurrent", 2)
	testbus.Wait(t, concurrent.started, "concurrent 1")
	testbus.Wait(t, concurrent.started, "concurrent 2")
	close(concurrent.release)
	testbus.Wait(t, c1, "c1")
	testbus.Wait(t, c2, "c2")

	// Reject: a call while one runs fails with ErrBusy.
	j1 := call("reject", 1)
	testbus.Wait(t, reject.started, "reject 1")
	if rej.Running() != 1 {
		t.Fatalf("Running() = %d", rej.Running())
	}
	_, err := actions.Call(ctx, "reject", 2)
	if !errors.Is(err, ipc.ErrBusy) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("reject while running: %v", err)
	}
	close(reject.release)
	testbus.Wait(t, j1, "j1")
}

func ExampleRegister() {
	// In an application the bus comes from kervi; here, a test hub.
	hub := ipctest.New()
	defer hub.Close()
	bus, _ := hub.Connect("lights")

	// An action that cannot be registered fails the module's setup; Err
	// returns its error.
	actions.Register(bus, "lights.dim", func(ctx context.Context, level int) (string, error) {
		if level < 0 || level > 100 {
			return "", errors.New("level must be 0..100")
		}
		return "dimmed", nil
	})
	ctx := bus.Context() // contexts from kervi carry the bus
	res, err := actions.Call(ctx, "lights.dim", 30)
	fmt.Println(res, err)
	_, err = actions.Call(ctx, "lights.dim", 300)
	fmt.Println(errors.Is(err, ipc.ErrActionFailed), err)
	_, err = actions.Call(ctx, "lights.dim", "bright")
	fmt.Println(errors.Is(err, ipc.ErrBadArgs), err)
	// Output:
	// dimmed <nil>
	// true kervi: "lights.dim": level must be 0..100 (module "lights")
	// true kervi: "lights.dim": argument 1 of (int): want an integer that fits int, got a string ("bright") (module "lights")
}

// Actions take and return structs, named as encoding/json names their
// fields; the catalogue describes them.
func ExampleParams() {
	hub := ipctest.New()
	defer hub.Close()
	bus, _ := hub.Connect("irrigation")

	type zone struct {
		Name    string        `json:"name"`
		Minutes time.Duration `json:"minutes"`
	}
	type schedule struct {
		Start time.Time `json:"start"`
		Zones []zone    `json:"zones"`
	}
	if err := actions.Register(bus, "irrigation.plan", func(s schedule, gap time.Duration) (schedule, error) {
		for i := range s.Zones {
			s.Zones[i].Minutes += gap
		}
		return s, nil
	}, actions.Params("schedule", "gap")).Err(); err != nil {
		panic(err)
	}
	ctx := bus.Context()
	start := time.Date(2026, 6, 1, 6, 0, 0, 0, time.UTC)
	s, err := actions.CallAs[schedule](ctx, "irrigation.plan",
		schedule{Start: start, Zones: []zone{{"beds", 10 * time.Minute}, {"lawn", 20 * time.Minute}}}, time.Minute)
	fmt.Println(s.Start.Equal(start), s.Zones, err)

	_, err = actions.Call(ctx, "irrigation.plan", map[string]any{"zones": []any{map[string]any{"name": 3}}}, 0)
	fmt.Println(err)

	d, _ := bus.Describe(ctx, "irrigation.plan")
	for _, p := range d.Params {
		fmt.Println(p.Name, p.Type.Kind)
	}
	fmt.Println("result:", d.Result.Kind, d.Result.Name)
	// Output:
	// true [{beds 11m0s} {lawn 21m0s}] <nil>
	// kervi: "irrigation.plan": argument 1 (schedule) of (actions_test.schedule, time.Duration): field "zones[0].name": want a string, got an integer (3) (module "irrigation")
	// schedule struct
	// gap duration
	// result: struct schedule
}

func ExamplePrivate() {
	hub := ipctest.New()
	defer hub.Close()
	bus, _ := hub.Connect("lights")

	// Only this module calls lights.fade: it is not announced, and other
	// modules get ipc.ErrUnknownID.
	actions.Register(bus, "lights.fade", func(level int) string { return fmt.Sprint("faded to ", level) }, actions.Private())
	res, err := actions.Call(bus.Context(), "lights.fade", 10)
	fmt.Println(res, err)
	// Output: faded to 10 <nil>
}
