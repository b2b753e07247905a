package nodetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/exampletest"
	"github.com/kervi/kervi-go/internal/faultproxy"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/nodes"
	"github.com/kervi/kervi-go/values"
)

// The site test runs its own application, siteApp: module "house" on the
// main node (this test process), module "shed" on node shed, a site's leaf
// hub (a process), and module "pi2" on node pi2, a member of the shed's
// site (a process), which joins the shed's server. Every process of it,
// modules included, has envSite=1, and TestMain runs siteApp in it.
const envSite = "NODETEST_SITE"

// siteApp builds the site test's application as every process of it does.
func siteApp(extra ...kervi.Option) (*kervi.Application, error) {
	mods := []kervi.Module{
		{Name: "house", Setup: houseSetup},
		{Name: "shed", Setup: shedSetup},
		{Name: "pi2", Setup: pi2Setup},
	}
	opts := []kervi.Option{
		kervi.WithName(appName),
		kervi.WithNodes(map[string][]string{"shed": {"shed"}, "pi2": {"pi2"}}),
		kervi.WithStartTimeout(30 * time.Second),
		kervi.WithNodeHeartbeat(100*time.Millisecond, 600*time.Millisecond),
	}
	return kervi.NewApplication(mods, append(opts, extra...)...)
}

// relayReply is what shed.relay answers when pi2 answered it.
const relayReply = "shed relayed pong from pi2"

func shedSetup(ctx context.Context, b *ipc.Bus) error {
	relays := values.NewNumber(b, "shed.relays", "Calls relayed to pi2", values.Output(), values.Initial(0.0))
	var mu sync.Mutex
	n := 0
	actions.Register(b, "shed.ping", func() string { return "pong from shed" })
	// shed.relay calls pi2 and counts the calls pi2 answered.
	actions.Register(b, "shed.relay", func(ctx context.Context) (string, error) {
		res, err := b.Call(ctx, "pi2.ping")
		if err != nil {
			return "", err
		}
		mu.Lock()
		n++
		_ = relays.Set(float64(n))
		mu.Unlock()
		return fmt.Sprintf("shed relayed %v", res), nil
	})
	return nil
}

// probeLine starts the line pi2 logs when its probe is done.
const probeLine = "site probe done"

func pi2Setup(ctx context.Context, b *ipc.Bus) error {
	count := values.NewNumber(b, "pi2.count", "Count", values.Output(), values.Initial(0.0))
	actions.Register(b, "pi2.ping", func() string { return "pong from pi2" })
	actions.Register(b, "pi2.set", func(v float64) error { return count.Set(v) })
	actions.Register(b, "pi2.ask_house", func(ctx context.Context) (any, error) { return b.Call(ctx, "house.ping") })
	registerAwait(b, "pi2.await", "pi2")
	// pi2.probe, in the background, waits until main is offline to pi2,
	// makes n calls pi2 → shed → pi2, setting pi2.count to 1000+i after
	// the i-th that succeeds, checks main is still offline and logs what
	// it found: it runs while the site's uplink is down, where the test
	// cannot call pi2.
	actions.Register(b, "pi2.probe", func(n int) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cut := func() bool {
				cctx, ccancel := context.WithTimeout(ctx, time.Second)
				defer ccancel()
				_, err := b.Call(cctx, "house.ping")
				return errors.Is(err, ipc.ErrOwnerGone)
			}
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for !cut() {
				select {
				case <-tick.C:
				case <-ctx.Done():
					b.Logger().Error(probeLine, "error", "main never went offline to pi2")
					return
				}
			}
			ok := 0
			for i := 1; i <= n; i++ {
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				res, err := b.Call(cctx, "shed.relay")
				ccancel()
				if err == nil && res == relayReply {
					ok++
					_ = count.Set(float64(1000 + i))
				} else {
					b.Logger().Warn("site probe: a call to shed failed", "call", i, "result", res, "error", err)
				}
			}
			b.Logger().Warn(probeLine, "ok", ok, "of", n, "main_offline_after", cut())
		}()
	})
	return nil
}

// TestSiteBehindOneUplink: main (this process) with a leaf listener; the
// shed, a site's leaf hub, whose leaf connection to main crosses a fault
// proxy (the site's uplink); pi2, joined to the shed's server. Calls and
// events pass between main and pi2 through the leaf; with the uplink
// blackholed, calls between pi2 and the shed go on (n of n) while main
// marks both offline; when the uplink is back, main ends on the latest
// values.
func TestSiteBehindOneUplink(t *testing.T) {
	t.Setenv(envSite, "1") // main's module processes run siteApp too
	tmp := t.TempDir()
	pairing := filepath.Join(tmp, "pairing")
	leafPort, sitePort := freePort(t), freePort(t)
	uplink, err := faultproxy.New("127.0.0.1:" + strconv.Itoa(leafPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uplink.Close() })
	d, err := nodes.OpenDir(pairing, appName)
	if err != nil {
		t.Fatal(err)
	}
	pi2Join, err := d.Add("pi2", []string{"tls://127.0.0.1:" + strconv.Itoa(sitePort)})
	if err != nil {
		t.Fatal(err)
	}
	shedJoin, err := d.AddLeaf("shed", []string{"pi2"}, []string{"tls://" + uplink.Addr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	joins := map[string]string{}
	for n, j := range map[string]*nodes.Join{"pi2": pi2Join, "shed": shedJoin} {
		joins[n] = filepath.Join(tmp, n+".join")
		if err := j.Save(joins[n]); err != nil {
			t.Fatal(err)
		}
	}

	// Main, in this process.
	log := &syncBuffer{}
	app, err := siteApp(kervi.WithNodeDir(pairing), kervi.WithNATSListen("127.0.0.1:"+strconv.Itoa(freePort(t))),
		kervi.WithNATSLeafListen("127.0.0.1:"+strconv.Itoa(leafPort)), kervi.WithLogger(slog.New(slog.NewTextHandler(log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopMain := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx) }()
	t.Cleanup(func() {
		stopMain()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the main node did not stop")
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		t.Fatalf("main node: %v\n%s", err, log)
	}
	c := &cluster{t: t, app: app, log: log}

	start := func(node string, env ...string) *exampletest.Program {
		t.Helper()
		env = append([]string{envRole + "=node", kervi.EnvNode + "=" + node, kervi.EnvJoin + "=" + joins[node]}, env...)
		p := exampletest.StartBinary(t, os.Args[0], env)
		p.WaitLine("application ready", 30*time.Second)
		return p
	}
	shed := start("shed", kervi.EnvSiteListen+"=127.0.0.1:"+strconv.Itoa(sitePort))
	pi2 := start("pi2")
	shedOnline, pi2Online := kervi.NodeValueID("shed", kervi.NodeOnline), kervi.NodeValueID("pi2", kervi.NodeOnline)
	c.waitBool(shedOnline, true, 20*time.Second)
	c.waitBool(pi2Online, true, 20*time.Second)
	c.waitID("pi2.probe")
	c.waitID("shed.relay")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bus := app.Bus()
	call := func(id string, args ...any) any {
		t.Helper()
		res, err := bus.Call(ctx, id, args...)
		if err != nil {
			t.Fatalf("call %s from main: %v\nmain's log:\n%s\nshed's log:\n%s\npi2's log:\n%s", id, err, log, shed.Log(), pi2.Log())
		}
		return res
	}
	// Calls main → pi2, pi2 → main, main → shed → pi2.
	call("pi2.await", "house.ping")
	if got := call("pi2.ping"); got != "pong from pi2" {
		t.Errorf("main → pi2: %v", got)
	}
	if got := call("pi2.ask_house"); got != "pong from main" {
		t.Errorf("pi2 → main: %v", got)
	}
	if got := call("shed.relay"); got != relayReply {
		t.Errorf("main → shed → pi2: %v", got)
	}
	// Events pi2 → main.
	count := watchNumber(t, c, "pi2.count")
	relays := watchNumber(t, c, "shed.relays")
	call("pi2.set", 7.0)
	count.waitFor(t, 7, 10*time.Second, log)
	relays.waitFor(t, 1, 10*time.Second, log)

	// The uplink goes down, silently.
	const n = 20
	call("pi2.probe", n)
	uplink.SetMode(faultproxy.Blackhole)
	took := c.waitBool(shedOnline, false, 15*time.Second)
	c.waitBool(pi2Online, false, 15*time.Second)
	t.Logf("main marked shed offline %v after the uplink went down", took)
	if _, err := bus.Call(ctx, "pi2.ping"); !errors.Is(err, ipc.ErrOwnerGone) {
		t.Errorf("main → pi2 while the uplink is down: %v, want ErrOwnerGone", err)
	}
	line := pi2.Find(probeLine, 30*time.Second)
	want := fmt.Sprintf("ok=%d of=%d main_offline_after=true", n, n)
	if !strings.Contains(line, want) {
		t.Fatalf("pi2's probe while the uplink was down: %s, want %s\npi2's log:\n%s\nshed's log:\n%s", line, want, pi2.Log(), shed.Log())
	}

	// The uplink is back: main ends on the latest values.
	uplink.SetMode(faultproxy.Pass)
	c.waitBool(shedOnline, true, 20*time.Second)
	c.waitBool(pi2Online, true, 20*time.Second)
	count.waitFor(t, 1000+n, 20*time.Second, log)
	relays.waitFor(t, 1+n, 20*time.Second, log)
	// Main is back to pi2 too: once pi2 has main's catalogue again, its
	// calls to main work (until then they fail fast, ErrOwnerGone).
	pi2.WaitLine("node online node=pi2 peer=main", 20*time.Second)
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		res, err := bus.Call(ctx, "pi2.ask_house")
		if err == nil {
			if res != "pong from main" {
				t.Errorf("pi2 → main after the uplink came back: %v", res)
			}
			break
		}
		// pi2's ErrOwnerGone reaches main as the nested call's message.
		if !errors.Is(err, ipc.ErrOwnerGone) && !strings.Contains(err.Error(), `node "main" is offline`) {
			t.Fatalf("pi2 → main after the uplink came back: %v", err)
		}
		select {
		case <-retry.C:
		case <-ctx.Done():
			t.Fatalf("pi2 → main after the uplink came back: %v (%v)", err, ctx.Err())
		}
	}
}

// numberWatch follows a number on the main node.
type numberWatch struct {
	id   string
	mu   sync.Mutex
	last float64
	kick chan struct{}
}

func watchNumber(t *testing.T, c *cluster, id string) *numberWatch {
	t.Helper()
	w := &numberWatch{id: id, kick: make(chan struct{}, 1)}
	sub, err := c.app.Bus().Subscribe(id, func(e ipc.Event) {
		w.mu.Lock()
		w.last = e.Value.Number()
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return w
}

// waitFor waits until the number's latest value on main is want.
func (w *numberWatch) waitFor(t *testing.T, want float64, within time.Duration, log *syncBuffer) {
	t.Helper()
	timeout := time.After(within)
	for {
		w.mu.Lock()
		last := w.last
		w.mu.Unlock()
		if last == want {
			return
		}
		select {
		case <-w.kick:
		case <-timeout:
			t.Fatalf("%s reads %v on main after %v, want %v\n%s", w.id, last, within, want, log)
		}
	}
}
