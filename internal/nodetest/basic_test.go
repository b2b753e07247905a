package nodetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
)

// TestAcrossNodes: links, calls, sets, reads, patterns and the catalogue
// work across nodes by id, with the same errors as on one machine.
func TestAcrossNodes(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	c.startNode()
	bus := c.app.Bus()
	d := c.waitID("bench.water")
	if d.Node != "pi1" || d.Module != "bench" {
		t.Fatalf("bench.water is described as %+v: want node pi1, module bench", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Calls, both ways.
	if res, err := bus.Call(ctx, "bench.water", 12.5); err != nil || res != "watered 12.5 ml" {
		t.Fatalf("call to pi1: %v, %v", res, err)
	}
	if _, err := bus.Call(ctx, "bench.water", -1.0); !errors.Is(err, ipc.ErrActionFailed) || !strings.Contains(err.Error(), "negative amount") {
		t.Fatalf("a failing call to pi1: %v", err)
	}
	if _, err := bus.Call(ctx, "bench.water", "lots"); !errors.Is(err, ipc.ErrBadArgs) {
		t.Fatalf("a call to pi1 with a bad argument: %v", err)
	}
	if _, err := bus.Call(ctx, "bench.await", "house.ping"); err != nil {
		t.Fatal(err)
	}
	if res, err := bus.Call(ctx, "bench.ask_house"); err != nil || res != "pong from main" {
		t.Fatalf("a call from pi1 to main: %v, %v", res, err)
	}
	// A deadline crosses as what is left of it.
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := bus.Call(short, "bench.wait")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past its deadline: %v", err)
	}

	// Sets, with the owner's checks.
	if err := bus.Set(ctx, "bench.limit", 7.0); err != nil {
		t.Fatal(err)
	}
	bctx := ipc.NewContext(ctx, bus)
	if v, err := ipc.Get[float64](bctx, "bench.limit"); err != nil || v != 7 {
		t.Fatalf("read of bench.limit after the set: %v, %v", v, err)
	}
	if err := bus.Set(ctx, "bench.limit", 70.0); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("an out-of-range set on pi1: %v", err)
	}
	if err := bus.Set(ctx, "bench.temp", 1.0); !errors.Is(err, ipc.ErrNotSettable) {
		t.Fatalf("a set of pi1's output: %v", err)
	}
	if _, err := bus.Call(ctx, "bench.nothing"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("a call of an id nobody owns: %v", err)
	}

	// Links: pi1 follows main's house.mode.
	if err := bus.Set(ctx, "house.mode", "night"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 16)
	sub, err := bus.Subscribe("bench.mode_seen", func(e ipc.Event) { got <- e.Value.Text() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for v := ""; v != "night"; {
		select {
		case v = <-got:
		case <-ctx.Done():
			t.Fatalf("pi1 never saw house.mode = night (last %q)", v)
		}
	}

	// A pattern subscription on main gets pi1's events, in order.
	nums := make(chan float64, 10000)
	psub, err := bus.SubscribePattern("bench.*", func(e ipc.Event) {
		if e.ID == "bench.temp" {
			nums <- e.Value.Number()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer psub.Close()
	if _, err := bus.Call(ctx, "bench.burst", 1, 2000); err != nil {
		t.Fatal(err)
	}
	for last := 0.0; last < 2000; {
		select {
		case v := <-nums:
			if v <= last && v != 0 {
				t.Fatalf("event %v after %v: out of order", v, last)
			}
			last = v
		case <-ctx.Done():
			t.Fatalf("the pattern subscriber's last event is %v, want 2000", last)
		}
	}

	// The nodes' state.
	c.waitBool(kervi.NodeValueID("pi1", kervi.NodeOnline), true, 10*time.Second)
	if v, err := ipc.Get[string](bctx, kervi.NodeValueID("pi1", kervi.NodeVersion)); err != nil || v == "" {
		t.Fatalf("pi1's version: %q, %v", v, err)
	}
}
