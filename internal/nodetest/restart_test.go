package nodetest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
)

func init() {
	benchHooks = append(benchHooks, func(ctx context.Context, b *ipc.Bus) error {
		// bench.crash ends the module's process, as a crash would.
		actions.Register(b, "bench.crash", func() { go os.Exit(3) })
		return nil
	})
}

// TestRestartsAcrossNodes: a module of pi1 crashes and is restarted by
// pi1, and pi1 itself is killed and started again; main sees each, calls
// fail meanwhile with errors that say why, and everything works again
// after.
func TestRestartsAcrossNodes(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	pi := c.startNode()
	c.waitID("bench.crash")
	bus := c.app.Bus()
	bctx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(ipc.NewContext(context.Background(), bus), 30*time.Second)
	}
	ctx, cancel := bctx()
	defer cancel()
	pid, err := actions.CallAs[int](ctx, "bench.pid")
	if err != nil {
		t.Fatal(err)
	}

	// A module of pi1 crashes: pi1 restarts it; main follows its state.
	state := make(chan string, 64)
	sub, err := bus.Subscribe(kervi.ModuleStateID("bench"), func(e ipc.Event) { state <- e.Value.Text() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, err := bus.Call(ctx, "bench.crash"); err != nil && !errors.Is(err, ipc.ErrOwnerGone) {
		t.Fatal(err)
	}
	for seen := map[string]bool{}; !seen["ready"] || !seen["restarting"]; {
		select {
		case s := <-state:
			seen[s] = true
		case <-ctx.Done():
			t.Fatalf("main never saw module bench of pi1 restart and be ready again (saw %v)", seen)
		}
	}
	var pid2 int
	for {
		pid2, err = actions.CallAs[int](ctx, "bench.pid")
		if !errors.Is(err, ipc.ErrOwnerGone) && !errors.Is(err, ipc.ErrNotReady) {
			break
		}
		if !strings.Contains(err.Error(), `"bench"`) {
			t.Fatalf("a call while bench restarts: %v", err)
		}
	}
	if err != nil || pid2 == pid {
		t.Fatalf("bench's process after the crash: %d (before %d), %v", pid2, pid, err)
	}

	// pi1 is killed (a power cut): main marks it offline, calls fail naming it.
	pi.Kill()
	online := kervi.NodeValueID("pi1", kervi.NodeOnline)
	c.waitBool(online, false, 15*time.Second)
	if _, err := bus.Call(ctx, "bench.pid"); !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `node "pi1"`) {
		t.Fatalf("a call to pi1 while it is down: %v", err)
	}
	// pi1 starts again: a new run, found again by main.
	c.startNode()
	c.waitBool(online, true, 30*time.Second)
	got := make(chan float64, 16)
	sub2, err := bus.Subscribe("bench.count", func(e ipc.Event) { got <- e.Value.Number() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	var end int
	for {
		end, err = actions.CallAs[int](ctx, "bench.run", 20, time.Millisecond)
		if !errors.Is(err, ipc.ErrOwnerGone) && !errors.Is(err, ipc.ErrUnknownID) {
			break // until pi1's catalogue and bridge are back at main
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for v := 0.0; v != float64(end); {
		select {
		case v = <-got:
		case <-ctx.Done():
			t.Fatalf("main never saw the restarted pi1's count reach %d (last %v)", end, v)
		}
	}
}

// TestCleanStopOfANode: a node stopped with Ctrl-C tells the others, which
// take it offline at once (not after the 5 s of silence) and keep its ids,
// stale, until it is back: calls fail with ErrOwnerGone naming it.
func TestCleanStopOfANode(t *testing.T) {
	c := newCluster(t) // the default heartbeat: 1 s, offline after 5 s
	pi := c.startNode()
	c.waitID("bench.water")
	online := kervi.NodeValueID("pi1", kervi.NodeOnline)
	c.waitBool(online, true, 20*time.Second)
	pi.Interrupt()
	took := c.waitBool(online, false, 4*time.Second)
	t.Logf("main took pi1 offline %v after its Ctrl-C", took)
	pi.Exit(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.app.Bus().Describe(ctx, "bench.water")
	if err != nil || d.Node != "pi1" {
		t.Fatalf("bench.water after pi1 stopped: %+v, %v: it stays, stale", d, err)
	}
	if _, err := c.app.Bus().Call(ctx, "bench.water", 1.0); !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `node "pi1" is offline`) {
		t.Fatalf("a call to a stopped node: %v", err)
	}
}
