package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

type testHub struct {
	hub     plumb.Hub
	notices chan plumb.Notice
	rts     []plumb.Bus
	ports   []plumb.Port
}

// rt returns the runtime side of b: to run its setup, stop or kill it.
func (th *testHub) rt(b *ipc.Bus) plumb.Bus {
	for _, rt := range th.rts {
		if rt.Handle() == b {
			return rt
		}
	}
	panic("not a bus of the hub")
}

func newTestHub(t *testing.T) *testHub {
	th := &testHub{notices: make(chan plumb.Notice, 100)}
	th.hub = plumb.NewHub(plumb.HubOptions{Notify: func(n plumb.Notice) { th.notices <- n }})
	return th
}

func (th *testHub) bus(t *testing.T, module string) (*ipc.Bus, plumb.Port) {
	t.Helper()
	rt, p, err := th.hub.Connect(module, plumb.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Detach(); rt.Kill() })
	th.rts, th.ports = append(th.rts, rt), append(th.ports, p)
	return rt.Handle().(*ipc.Bus), p
}

// start runs the life cycle of every bus as the runtime does: setup
// (nothing to do), then the start of the application.
func (th *testHub) start(t *testing.T) {
	t.Helper()
	for _, rt := range th.rts {
		must(t, rt.RunSetup(nil))
	}
	th.hub.Start()
	for _, p := range th.ports {
		testbus.Wait(t, p.Started(), "module "+p.Module()+" started")
	}
	th.hub.SetAppReady()
}

func TestEventsCrossBusesInOrder(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")

	const n = 10000
	got := make(chan float64, n)
	if _, err := b.Subscribe("a.counter", func(ev ipc.Event) { got <- ev.Value.Number() }); err != nil {
		t.Fatal(err)
	}
	b.Flush(context.Background()) // the hub has the subscription
	pub, err := a.RegisterValue(ipc.Description{ID: "a.counter", Name: "Counter", Type: ipc.TypeNumber}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Once a knows that b follows the counter, every event goes out.
	testbus.Eventually(t, "a to learn that b follows a.counter", pub.Followed)
	for i := range n {
		pub.Publish(ipc.NumberValue(float64(i)), time.Now())
	}
	for i := range n {
		if v := testbus.Wait(t, got, "event"); v != float64(i) {
			t.Fatalf("event %d: got %v", i, v)
		}
	}
}

func TestLateSubscriberGetsCurrentValue(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	pub, _ := a.RegisterValue(ipc.Description{ID: "x", Type: ipc.TypeString}, nil)
	pub.Publish(ipc.StringValue("first"), time.Now())
	pub.Publish(ipc.StringValue("second"), time.Now())
	// Wait until the hub has routed the event, then subscribe from b.
	a.Flush(context.Background())
	got := make(chan string, 10)
	if _, err := b.Subscribe("x", func(ev ipc.Event) { got <- ev.Value.Text() }); err != nil {
		t.Fatal(err)
	}
	if v := testbus.Wait(t, got, "snapshot"); v != "second" {
		t.Fatalf("snapshot = %q, want second", v)
	}
	// A second local subscriber gets the current value too.
	got2 := make(chan string, 10)
	b.Subscribe("x", func(ev ipc.Event) { got2 <- ev.Value.Text() })
	if v := testbus.Wait(t, got2, "snapshot 2"); v != "second" {
		t.Fatalf("snapshot 2 = %q", v)
	}
	pub.Publish(ipc.StringValue("third"), time.Now())
	if v := testbus.Wait(t, got, "third"); v != "third" {
		t.Fatalf("got %q", v)
	}
	if v := testbus.Wait(t, got2, "third"); v != "third" {
		t.Fatalf("got %q", v)
	}
}

func TestCallAcrossBuses(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	must(t, a.RegisterAction(ipc.Description{ID: "add"}, func(ctx context.Context, args ipc.Args) (any, error) {
		if args.Len() != 2 {
			return nil, fmt.Errorf("%w: want 2 arguments", ipc.ErrBadArgs)
		}
		return args.Any(0).(int64) + args.Any(1).(int64), nil
	}))
	must(t, a.RegisterAction(ipc.Description{ID: "fail"}, func(ctx context.Context, args ipc.Args) (any, error) {
		return nil, errors.New("motor jammed")
	}))
	must(t, a.RegisterAction(ipc.Description{ID: "boom"}, func(ctx context.Context, args ipc.Args) (any, error) {
		panic("kaboom")
	}))
	must(t, a.RegisterAction(ipc.Description{ID: "block"}, func(ctx context.Context, args ipc.Args) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- ctx.Err()
		return nil, ctx.Err()
	}))
	th.start(t)
	ctx := context.Background()

	res, err := b.Call(ctx, "add", 2, 3)
	if err != nil || res != int64(5) {
		t.Fatalf("add = %v, %v", res, err)
	}
	_, err = b.Call(ctx, "add", 2)
	if !errors.Is(err, ipc.ErrBadArgs) {
		t.Fatalf("add(2): %v", err)
	}
	_, err = b.Call(ctx, "fail")
	if !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "motor jammed") || !strings.Contains(err.Error(), `"fail"`) {
		t.Fatalf("fail: %v", err)
	}
	_, err = b.Call(ctx, "boom")
	if !errors.Is(err, ipc.ErrPanic) || !strings.Contains(err.Error(), "kaboom") {
		t.Fatalf("boom: %v", err)
	}
	_, err = b.Call(ctx, "nope")
	if !errors.Is(err, ipc.ErrUnknownID) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("nope: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := b.Call(cctx, "block"); errc <- err }()
	testbus.Wait(t, started, "action start")
	cancel()
	if err := testbus.Wait(t, errc, "call return"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if err := testbus.Wait(t, cancelled, "action cancelled"); !errors.Is(err, context.Canceled) {
		t.Fatalf("action ctx: %v", err)
	}

	dctx, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	_, err = b.Call(dctx, "block")
	testbus.Wait(t, started, "action start")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline call: %v", err)
	}
	if err := testbus.Wait(t, cancelled, "action deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("action ctx: %v", err)
	}
}

func TestCallOwnerGone(t *testing.T) {
	th := newTestHub(t)
	a, ap := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	started := make(chan struct{})
	must(t, a.RegisterAction(ipc.Description{ID: "hang"}, func(ctx context.Context, args ipc.Args) (any, error) {
		close(started)
		select {}
	}))
	th.start(t)
	errc := make(chan error, 1)
	go func() { _, err := b.Call(context.Background(), "hang"); errc <- err }()
	testbus.Wait(t, started, "start")
	ap.Detach()
	if err := testbus.Wait(t, errc, "result"); !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := b.Call(context.Background(), "hang"); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Fatalf("call to detached owner: %v", err)
	}
}

func TestDuplicateID(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "sensors")
	b, _ := th.bus(t, "controllers")
	if _, err := a.RegisterValue(ipc.Description{ID: "cpu_load", Type: ipc.TypeNumber}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterValue(ipc.Description{ID: "cpu_load", Type: ipc.TypeNumber}, nil); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Fatalf("local duplicate: %v", err)
	}
	a.Flush(context.Background())
	if _, err := b.RegisterValue(ipc.Description{ID: "cpu_load", Type: ipc.TypeNumber}, nil); err != nil {
		t.Fatal(err)
	}
	n := testbus.Wait(t, th.notices, "notice")
	if n.Kind != plumb.NoticeDuplicate || n.ID != "cpu_load" || n.Other != "sensors" || n.Module != "controllers" {
		t.Fatalf("notice = %+v", n)
	}
	if !strings.Contains(n.Err.Error(), `"sensors"`) || !strings.Contains(n.Err.Error(), `"controllers"`) {
		t.Fatalf("error does not name both modules: %v", n.Err)
	}
}

func TestSetValue(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	var mu sync.Mutex
	var got float64
	var pub *ipc.Publisher
	pub, _ = a.RegisterValue(ipc.Description{ID: "temp", Type: ipc.TypeNumber},
		func(ctx context.Context, v ipc.Value) error {
			if v.Type() != ipc.TypeNumber {
				return fmt.Errorf("%w: want number, got %v", ipc.ErrWrongType, v.Type())
			}
			if v.Number() > 150 {
				return fmt.Errorf("%w: %v > 150", ipc.ErrOutOfRange, v.Number())
			}
			mu.Lock()
			got = v.Number()
			mu.Unlock()
			pub.Publish(v, time.Now())
			return nil
		})
	a.RegisterValue(ipc.Description{ID: "speed", Type: ipc.TypeNumber}, nil)
	th.start(t)
	ctx := context.Background()
	if err := b.Set(ctx, "temp", 42); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got != 42 {
		t.Fatalf("got %v", got)
	}
	mu.Unlock()
	if err := b.Set(ctx, "temp", 200); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("out of range: %v", err)
	}
	if err := b.Set(ctx, "temp", "hot"); !errors.Is(err, ipc.ErrWrongType) {
		t.Fatalf("wrong type: %v", err)
	}
	if err := b.Set(ctx, "speed", 1); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("output: %v", err)
	}
	if err := b.Set(ctx, "nope", 1); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("unknown: %v", err)
	}
	// The same rules apply within the owner's process.
	if err := a.Set(ctx, "speed", 1); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("local output: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
