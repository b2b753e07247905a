package nodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/internal/exampletest"
	"github.com/kervi/kervi-go/internal/faultproxy"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/nodes"
	_ "github.com/kervi/kervi-go/nodes/nats" // the test application runs on several nodes
	"github.com/kervi/kervi-go/values"
)

// The test application: module "bench" runs on node pi1, module "house"
// on the main node, which is this test process; pi1 is another process
// of this test binary (role "node"), whose modules are processes too.
const appName = "greenhouse_test"

// Environment of the processes this test binary starts.
const (
	envRole  = "NODETEST_ROLE"  // "node": run the application as a node
	envFast  = "NODETEST_FAST"  // "1": heartbeat 100 ms, offline after 600 ms
	envSkew  = "NODETEST_SKEW"  // the node's clock offset, a duration
	envDup   = "NODETEST_DUP"   // "1": both modules claim shared.lamp
	envExtra = "NODETEST_EXTRA" // "1": module "bench" announces bench.extra too
	envDash  = "NODETEST_DASH"  // an address: the main node runs a dashboard there
)

func TestMain(m *testing.M) {
	if kervi.IsModuleProcess() || os.Getenv(envRole) == "node" {
		build := newApp
		if os.Getenv(envSite) == "1" { // the site test's application (site_test.go)
			build = siteApp
		}
		app, err := build()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err = app.Run(ctx) // never returns in a module process
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// newApp builds the test application as every process of it does.
func newApp(extra ...kervi.Option) (*kervi.Application, error) {
	mods := []kervi.Module{
		{Name: "bench", Setup: benchSetup},
		{Name: "house", Setup: houseSetup},
	}
	if addr := os.Getenv(envDash); addr != "" {
		mods = append(mods, dashboard.Module(dashboard.Addr(addr)))
	}
	opts := []kervi.Option{
		kervi.WithName(appName),
		kervi.WithNodes(map[string][]string{"pi1": {"bench"}}),
		kervi.WithStartTimeout(30 * time.Second),
	}
	if os.Getenv(envFast) == "1" {
		opts = append(opts, kervi.WithNodeHeartbeat(100*time.Millisecond, 600*time.Millisecond))
	}
	if d, err := time.ParseDuration(os.Getenv(envSkew)); err == nil {
		opts = append(opts, kervi.WithNodeClock(func() time.Time { return time.Now().Add(d) }))
	}
	return kervi.NewApplication(mods, append(opts, extra...)...)
}

func benchSetup(ctx context.Context, b *ipc.Bus) error {
	temp := values.NewNumber(b, "bench.temp", "Temperature", values.Unit("°C"), values.Output())
	values.NewNumber(b, "bench.limit", "Limit", values.Input(), values.Range(0, 10))
	seen := values.NewString(b, "bench.mode_seen", "Mode seen on the bench", values.Output())
	actions.Register(b, "bench.water", func(ctx context.Context, ml float64) (string, error) {
		if ml < 0 {
			return "", errors.New("a negative amount of water")
		}
		return fmt.Sprintf("watered %g ml", ml), nil
	})
	actions.Register(b, "bench.burst", func(ctx context.Context, from, n int) error {
		for i := from; i < from+n; i++ {
			if err := temp.Set(float64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	actions.Register(b, "bench.pid", func() int { return os.Getpid() })
	actions.Register(b, "bench.ask_house", func(ctx context.Context) (any, error) { return b.Call(ctx, "house.ping") })
	registerAwait(b, "bench.await", "pi1")
	actions.Register(b, "bench.wait", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if _, err := b.Subscribe("house.mode", func(e ipc.Event) { _ = seen.Set(e.Value.Text()) }); err != nil {
		return err
	}
	if os.Getenv(envDup) == "1" {
		values.NewBool(b, "shared.lamp", "Lamp on the bench")
	}
	for _, f := range benchHooks {
		if err := f(ctx, b); err != nil {
			return err
		}
	}
	if os.Getenv(envExtra) == "1" {
		values.NewBool(b, "bench.extra", "Extra")
	}
	return nil
}

// registerAwait registers action id, which waits until an id is in the
// catalogue of node's processes.
func registerAwait(b *ipc.Bus, id, node string) {
	actions.Register(b, id, func(ctx context.Context, want string) error {
		found := make(chan struct{})
		var once sync.Once
		sub, err := b.FollowCatalogue(func(c ipc.CatalogueChange) {
			if c.Kind == ipc.ChangeAnnounced && c.Description.ID == want {
				once.Do(func() { close(found) })
			}
		})
		if err != nil {
			return err
		}
		defer sub.Close()
		select {
		case <-found:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s is not in the catalogue of %s: %w", want, node, ctx.Err())
		}
	})
}

// benchHooks add to module "bench" what other files of the tests need;
// they are set in init functions, so every process has them.
var benchHooks []func(ctx context.Context, b *ipc.Bus) error

func houseSetup(ctx context.Context, b *ipc.Bus) error {
	values.NewString(b, "house.mode", "Mode", values.Input(), values.Initial("day"))
	actions.Register(b, "house.ping", func() string { return "pong from main" })
	if os.Getenv(envDup) == "1" {
		values.NewBool(b, "shared.lamp", "Lamp in the house")
	}
	return nil
}

// cluster is the main node, run by this test, and its pairing.
type cluster struct {
	t      testing.TB
	dir    string
	port   int
	proxy  *faultproxy.Proxy
	join   string
	app    *kervi.Application
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newCluster pairs node pi1 with a main node that listens on loopback,
// through a fault proxy, and starts the main node.
func newCluster(t testing.TB, env ...string) *cluster {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c := &cluster{t: t, dir: filepath.Join(t.TempDir(), "pairing"), port: freePort(t)}
	px, err := faultproxy.New("127.0.0.1:" + strconv.Itoa(c.port))
	if err != nil {
		t.Fatal(err)
	}
	c.proxy = px
	t.Cleanup(func() { px.Close() })
	d, err := nodes.OpenDir(c.dir, appName)
	if err != nil {
		t.Fatal(err)
	}
	j, err := d.Add("pi1", []string{px.URL()})
	if err != nil {
		t.Fatal(err)
	}
	c.join = filepath.Join(t.TempDir(), "pi1.join")
	if err := j.Save(c.join); err != nil {
		t.Fatal(err)
	}
	c.startMain()
	return c
}

// startMain starts the main node in this process.
func (c *cluster) startMain() {
	c.t.Helper()
	c.log = &syncBuffer{}
	app, err := newApp(kervi.WithNodeDir(c.dir), kervi.WithNATSListen("127.0.0.1:"+strconv.Itoa(c.port)),
		kervi.WithLogger(slog.New(slog.NewTextHandler(c.log, nil))))
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.app, c.cancel, c.done = app, cancel, make(chan error, 1)
	go func() { c.done <- app.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		c.t.Fatalf("main node: %v\n%s", err, c.log)
	}
	c.t.Cleanup(c.stopMain)
}

// stopMain stops the main node and waits.
func (c *cluster) stopMain() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Error("the main node did not stop")
	}
	c.cancel = nil
}

// startNode starts node pi1 as a process of this test binary.
func (c *cluster) startNode(env ...string) *exampletest.Program {
	c.t.Helper()
	env = append([]string{envRole + "=node", kervi.EnvNode + "=pi1", kervi.EnvJoin + "=" + c.join}, env...)
	p := exampletest.StartBinary(c.t, os.Args[0], env)
	p.WaitLine("application ready", 30*time.Second)
	return p
}

// waitID waits until id is in the main node's catalogue.
func (c *cluster) waitID(id string) ipc.Description {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch := make(chan ipc.Description, 1)
	sub, err := c.app.Bus().FollowCatalogue(func(ch2 ipc.CatalogueChange) {
		if ch2.Kind == ipc.ChangeAnnounced && ch2.Description.ID == id {
			select {
			case ch <- ch2.Description:
			default:
			}
		}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	defer sub.Close()
	select {
	case d := <-ch:
		return d
	case <-ctx.Done():
		c.t.Fatalf("%s never reached the main node's catalogue\n%s", id, c.log)
	}
	return ipc.Description{}
}

// waitBool waits until the bool value id reads want on the main node.
func (c *cluster) waitBool(id string, want bool, within time.Duration) time.Duration {
	c.t.Helper()
	t0 := time.Now()
	ch := make(chan bool, 64)
	sub, err := c.app.Bus().Subscribe(id, func(e ipc.Event) { ch <- e.Value.Bool() })
	if err != nil {
		c.t.Fatal(err)
	}
	defer sub.Close()
	timeout := time.After(within)
	for {
		select {
		case v := <-ch:
			if v == want {
				return time.Since(t0)
			}
		case <-timeout:
			c.t.Fatalf("%s never read %v within %v\n%s", id, want, within, c.log)
		}
	}
}

// syncBuffer is a log that tests wait on.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote == nil {
		s.wrote = make(chan struct{}, 1)
	}
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

// waitLine returns the first line of the log that contains sub, waiting
// for it up to within.
func (s *syncBuffer) waitLine(t testing.TB, sub string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		s.mu.Lock()
		if s.wrote == nil {
			s.wrote = make(chan struct{}, 1)
		}
		wrote := s.wrote
		text := s.b.String()
		s.mu.Unlock()
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, sub) {
				return l
			}
		}
		select {
		case <-wrote:
		case <-timeout:
			t.Fatalf("no %q in the log after %v:\n%s", sub, within, text)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
