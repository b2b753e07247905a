package nodetest

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/faultproxy"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func init() {
	benchHooks = append(benchHooks, func(ctx context.Context, b *ipc.Bus) error {
		count := values.NewNumber(b, "bench.count", "Count", values.Output())
		// bench.run counts n further, one step every interval, in the
		// background: pi1 goes on whatever the network does. It returns
		// the number it will end on.
		var mu sync.Mutex
		next := 1
		actions.Register(b, "bench.run", func(ctx context.Context, n int, every time.Duration) int {
			mu.Lock()
			from := next
			next += n
			mu.Unlock()
			go func() {
				t := time.NewTicker(every)
				defer t.Stop()
				for i := from; i < from+n; i++ {
					_ = count.Set(float64(i))
					<-t.C
				}
			}()
			return from + n - 1
		})
		return nil
	})
}

var debugGaps = os.Getenv("NODETEST_DEBUG") != ""

// counter follows bench.count on the main node and checks its order.
type counter struct {
	mu   sync.Mutex
	last float64
	gaps int // events that skipped a number
	back []string
	cond chan struct{}
}

func follow(t *testing.T, c *cluster) *counter {
	t.Helper()
	k := &counter{cond: make(chan struct{}, 1)}
	sub, err := c.app.Bus().Subscribe("bench.count", func(e ipc.Event) {
		v := e.Value.Number()
		k.mu.Lock()
		if v <= k.last {
			k.back = append(k.back, strings.TrimSpace(e.Value.String()))
		} else if v != k.last+1 {
			k.gaps++
			if debugGaps {
				println("gap", k.last, "->", v)
			}
		}
		k.last = math.Max(k.last, v)
		k.mu.Unlock()
		select {
		case k.cond <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return k
}

// wait waits until the count reaches n.
func (k *counter) wait(t *testing.T, n float64, within time.Duration, log func() string) time.Duration {
	t.Helper()
	t0 := time.Now()
	timeout := time.After(within)
	for {
		k.mu.Lock()
		last := k.last
		k.mu.Unlock()
		if last >= n {
			return time.Since(t0)
		}
		select {
		case <-k.cond:
		case <-timeout:
			t.Fatalf("the main node's count is %v after %v, want %v\n%s", last, within, n, log())
		}
	}
}

func (k *counter) check(t *testing.T) (gaps int) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.back) > 0 {
		t.Fatalf("%d events went backwards (first %s): order per id was lost", len(k.back), k.back[0])
	}
	return k.gaps
}

// TestNodeSurvivesTheNetwork drives pi1's link to NATS through a
// blackhole, a reset and flapping while pi1 counts: its modules run on,
// main marks it offline and calls to it fail fast naming it, and after
// each fault main ends on the latest count, never going backwards, with
// no event lost while the link was up.
func TestNodeSurvivesTheNetwork(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	pi := c.startNode()
	c.waitID("bench.count")
	bus := c.app.Bus()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pid, err := actions.CallAs[int](ipc.NewContext(ctx, bus), "bench.pid")
	if err != nil {
		t.Fatal(err)
	}
	k := follow(t, c)
	online := kervi.NodeValueID("pi1", kervi.NodeOnline)

	run := func(n int) float64 {
		t.Helper()
		end, err := actions.CallAs[int](ipc.NewContext(ctx, bus), "bench.run", n, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return float64(end)
	}
	// While the link is up, nothing is lost.
	k.wait(t, run(200), 10*time.Second, c.log.String)
	if gaps := k.check(t); gaps != 0 {
		t.Fatalf("%d events lost while the link was up", gaps)
	}

	for _, fault := range []faultproxy.Mode{faultproxy.Blackhole, faultproxy.Reset} {
		t.Run(fault.String(), func(t *testing.T) {
			// pi1 counts for 3 s; the link fails in the middle.
			end := run(3000)
			c.proxy.SetMode(fault)
			took := c.waitBool(online, false, 15*time.Second)
			t.Logf("%s: main marked pi1 offline after %v", fault, took)
			t0 := time.Now()
			_, err := bus.Call(ctx, "bench.water", 1.0)
			if !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `node "pi1"`) {
				t.Fatalf("a call to pi1 while it is offline: %v", err)
			}
			if d := time.Since(t0); d > 100*time.Millisecond {
				t.Fatalf("a call to an offline node failed after %v, not at once", d)
			}
			c.proxy.SetMode(faultproxy.Pass)
			c.waitBool(online, true, 15*time.Second)
			d := k.wait(t, end, 20*time.Second, c.log.String)
			t.Logf("%s: main reached the end of the run %v after pi1 came back", fault, d)
			k.check(t)
		})
	}

	t.Run("flapping", func(t *testing.T) {
		// The link flaps for 3 s: the fault's length, not a wait.
		end0 := run(2000)
		fctx, stop := context.WithTimeout(ctx, 3*time.Second)
		defer stop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.proxy.Flap(fctx, faultproxy.Blackhole, 300*time.Millisecond, 300*time.Millisecond)
		}()
		<-done
		end := end0
		k.wait(t, end, 20*time.Second, c.log.String)
		k.check(t)
	})

	// pi1's modules ran through it all: the same process. (After the
	// flapping, pi1's link may still be coming back.)
	for {
		c.waitBool(online, true, 15*time.Second)
		got, err := actions.CallAs[int](ipc.NewContext(ctx, bus), "bench.pid")
		if errors.Is(err, ipc.ErrOwnerGone) && ctx.Err() == nil {
			continue
		}
		if err != nil || got != pid {
			t.Fatalf("bench's process was %d, is %d (%v): it must run on through the faults", pid, got, err)
		}
		break
	}
	_ = pi
}

// TestSilentDropDefaults: with the default heartbeat, a node whose link
// silently drops is offline to main within 15 s.
func TestSilentDropDefaults(t *testing.T) {
	c := newCluster(t)
	c.startNode()
	online := kervi.NodeValueID("pi1", kervi.NodeOnline)
	c.waitBool(online, true, 20*time.Second)
	c.proxy.SetMode(faultproxy.Blackhole)
	took := c.waitBool(online, false, 15*time.Second)
	t.Logf("a silent drop was noticed after %v", took)
}

// TestDuplicateIDAcrossNodes: an id claimed on two nodes is refused,
// naming both; each node keeps its own module's.
func TestDuplicateIDAcrossNodes(t *testing.T) {
	c := newCluster(t, envFast+"=1", envDup+"=1")
	pi := c.startNode()
	c.waitID("bench.water")
	want := []string{`module "house" on node "main"`, `module "bench" on node "pi1"`}
	line := strings.ReplaceAll(pi.Find("shared.lamp", 20*time.Second), `\"`, `"`)
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Fatalf("pi1's log says %q: it does not name %s", line, w)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	line = strings.ReplaceAll(c.log.waitLine(t, "shared.lamp", 20*time.Second), `\"`, `"`)
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Fatalf("main's log says %q: it does not name %s", line, w)
		}
	}
	d, err := c.app.Bus().Describe(ctx, "shared.lamp")
	if err != nil || d.Node != "main" || d.Module != "house" {
		t.Fatalf("on main, shared.lamp is %+v (%v): main's module keeps it", d, err)
	}
}

// TestMainRestarts: the main node (and the NATS server in it) stops and
// comes back; pi1 runs on, and rejoins.
func TestMainRestarts(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	c.startNode()
	c.waitID("bench.count")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pid, err := actions.CallAs[int](ipc.NewContext(ctx, c.app.Bus()), "bench.pid")
	if err != nil {
		t.Fatal(err)
	}
	end, err := actions.CallAs[int](ipc.NewContext(ctx, c.app.Bus()), "bench.run", 4000, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c.stopMain()
	c.startMain()
	c.waitID("bench.count")
	k := follow(t, c)
	k.wait(t, float64(end), 20*time.Second, c.log.String)
	k.check(t)
	bus := c.app.Bus()
	if got, err := actions.CallAs[int](ipc.NewContext(ctx, bus), "bench.pid"); err != nil || got != pid {
		t.Fatalf("bench's process was %d, is %d (%v): pi1 must run on while main is away", pid, got, err)
	}
	if _, err := bus.Call(ctx, "bench.await", "house.ping"); err != nil {
		t.Fatal(err)
	}
	if res, err := bus.Call(ctx, "bench.ask_house"); err != nil || res != "pong from main" {
		t.Fatalf("a call from pi1 to the restarted main: %v, %v", res, err)
	}
}

// TestNodeClockOff: a node whose clock is an hour off is warned about,
// its offset is a value main shows, and its events keep their order.
func TestNodeClockOff(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	pi := c.startNode(envSkew + "=1h")
	pi.Find("clock is off", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offID := kervi.NodeValueID("pi1", kervi.NodeClockOffset)
	ch := make(chan float64, 64)
	sub, err := c.app.Bus().Subscribe(offID, func(e ipc.Event) { ch <- e.Value.Number() })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for off := 0.0; math.Abs(off-3600) > 5; {
		select {
		case off = <-ch:
		case <-ctx.Done():
			t.Fatalf("main shows pi1's clock offset as %v s, want about 3600\n%s", off, c.log)
		}
	}
	if l := c.log.waitLine(t, "clock", 10*time.Second); !strings.Contains(l, "pi1") {
		t.Fatalf("main's warning about the clock does not name pi1: %s", l)
	}
	c.waitID("bench.run")
	k := follow(t, c)
	end, err := actions.CallAs[int](ipc.NewContext(ctx, c.app.Bus()), "bench.run", 500, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	k.wait(t, float64(end), 10*time.Second, c.log.String)
	if gaps := k.check(t); gaps != 0 {
		t.Fatalf("%d events lost", gaps)
	}
}
