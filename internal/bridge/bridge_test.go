package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/faultproxy"
	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func startServer(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

type testNode struct {
	hub *testbus.Hub
	br  *Bridge
	nc  *nats.Conn
}

func startNode(t *testing.T, url, name string, setup func(ctx context.Context, b *ipc.Bus) error) *testNode {
	t.Helper()
	return startNodeWith(t, url, name, setup, nil)
}

// startNodeConfig starts a node whose bridge's configuration conf changes.
func startNodeConfig(t *testing.T, url, name string, conf func(*Config)) *testNode {
	t.Helper()
	return startNodeWith(t, url, name, nil, nil, conf)
}

// startNodeWith starts a node whose bridge sees its hub through wrap, if
// not nil.
func startNodeWith(t *testing.T, url, name string, setup func(ctx context.Context, b *ipc.Bus) error, wrap func(plumb.Hub) plumb.Hub, conf ...func(*Config)) *testNode {
	t.Helper()
	n := &testNode{hub: testbus.NewNode(t, name)}
	var err error
	var br *Bridge
	n.nc, err = nats.Connect(url, nats.CustomInboxPrefix("kervi.t.in."+name), nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if br != nil {
				br.LinkDown(err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			if br != nil {
				br.LinkUp()
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.nc.Close)
	n.hub.Bus("mod_"+name, nil)
	if err := n.hub.Setup("mod_"+name, setup); err != nil {
		t.Fatal(err)
	}
	n.hub.Start()
	var hub plumb.Hub = n.hub.Hub
	if wrap != nil {
		hub = wrap(hub)
	}
	cfg := Config{App: "t", Node: name, Conn: n.nc, Hub: hub, Heartbeat: 50 * time.Millisecond,
		OfflineAfter: 400 * time.Millisecond, Version: "test"}
	for _, c := range conf {
		c(&cfg)
	}
	br, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.br = br
	t.Cleanup(br.Close)
	return n
}

func (n *testNode) bus(t *testing.T) *ipc.Bus {
	b := n.hub.Bus("watcher", nil)
	if err := n.hub.Setup("watcher", nil); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTwoNodes(t *testing.T) {
	s := startServer(t)
	var temp *values.Number
	pi := startNode(t, s.ClientURL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		temp = values.NewNumber(b, "bench.temp", "Temperature")
		actions.Register(b, "bench.water", func(ctx context.Context, ml float64) (string, error) {
			if ml < 0 {
				return "", errors.New("negative water")
			}
			return "watered", nil
		})
		return nil
	})
	main := startNode(t, s.ClientURL(), "main", nil)
	watcher := main.bus(t)

	// The catalogue crosses.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := waitAnnounced(t, watcher, "bench.water")
	if d.Node != "pi1" || d.Module != "mod_pi1" {
		t.Fatalf("description %+v: want node pi1, module mod_pi1", d)
	}
	got := numbers(t, watcher, "bench.temp", 100)
	if err := temp.Set(0); err != nil {
		t.Fatal(err)
	}
	waitValue(t, got, 0)
	for i := 1; i <= 50; i++ {
		if err := temp.Set(float64(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // the pace of a sensor: no event may be lost
	}
	last := 0.0
	for last < 50 {
		select {
		case v := <-got:
			if v != last+1 {
				t.Fatalf("event %v after %v: out of order or lost", v, last)
			}
			last = v
		case <-ctx.Done():
			t.Fatalf("last event %v, want 50", last)
		}
	}
	res, err := watcher.Call(ctx, "bench.water", 10.0)
	if err != nil || res != "watered" {
		t.Fatalf("call: %v, %v", res, err)
	}
	if _, err := watcher.Call(ctx, "bench.water", -1.0); err == nil || !strings.Contains(err.Error(), "negative water") {
		t.Fatalf("failing call: %v", err)
	}
	_ = pi
}

// waitAnnounced waits until id is in the catalogue bus follows.
func waitAnnounced(t *testing.T, bus *ipc.Bus, id string) ipc.Description {
	t.Helper()
	ch := make(chan ipc.Description, 1)
	sub, err := bus.FollowCatalogue(func(c ipc.CatalogueChange) {
		if c.Kind == ipc.ChangeAnnounced && c.Description.ID == id {
			select {
			case ch <- c.Description:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case d := <-ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never reached the catalogue", id)
	}
	return ipc.Description{}
}

func TestNodeOfflineAndBack(t *testing.T) {
	s := startServer(t)
	px := newProxy(t, s)
	var temp *values.Number
	var limit *values.Number
	startNode(t, px.URL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		temp = values.NewNumber(b, "bench.temp", "Temperature")
		limit = values.NewNumber(b, "bench.limit", "Limit", values.Input(), values.Range(0, 10))
		actions.Register(b, "bench.water", func() string { return "watered" })
		return nil
	})
	main := startNode(t, s.ClientURL(), "main", nil)
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "bench.water")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got := numbers(t, watcher, "bench.temp", 10000)
	if err := temp.Set(1); err != nil {
		t.Fatal(err)
	}
	waitValue(t, got, 1)
	if err := watcher.Set(ctx, "bench.limit", 5.0); err != nil {
		t.Fatal(err)
	}
	if limit.Value() != 5 {
		t.Fatalf("limit %v after a set from main", limit.Value())
	}
	if err := watcher.Set(ctx, "bench.limit", 50.0); !errors.Is(err, ipc.ErrOutOfRange) {
		t.Fatalf("set out of range from main: %v", err)
	}

	// A silent drop: main notices, calls fail fast naming the node.
	px.SetMode(faultproxy.Blackhole)
	for {
		_, err := watcher.Call(ctx, "bench.water")
		if errors.Is(err, ipc.ErrOwnerGone) {
			if !strings.Contains(err.Error(), `node "pi1"`) {
				t.Fatalf("owner gone error %q does not name the node", err)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("calls never failed with ErrOwnerGone during the blackhole")
		}
	}
	start := time.Now()
	if _, err := watcher.Call(ctx, "bench.water"); !errors.Is(err, ipc.ErrOwnerGone) || time.Since(start) > time.Second {
		t.Fatalf("a call to an offline node: %v after %v", err, time.Since(start))
	}
	// pi1 runs on: its value changes, which main follows again after.
	for i := 2; i <= 1000; i++ {
		if err := temp.Set(float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	px.SetMode(faultproxy.Pass)
	last := 1.0
	for last < 1000 {
		select {
		case v := <-got:
			if v <= last {
				t.Fatalf("event %v after %v: out of order", v, last)
			}
			last = v
		case <-ctx.Done():
			t.Fatalf("last event %v after the link returned, want 1000", last)
		}
	}
	res, err := watcher.Call(ctx, "bench.water")
	if err != nil || res != "watered" {
		t.Fatalf("call after the link returned: %v, %v", res, err)
	}
}

func waitValue(t *testing.T, ch <-chan float64, want float64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case v := <-ch:
			if v == want {
				return
			}
		case <-timeout:
			t.Fatalf("value %v never came", want)
		}
	}
}

// TestCallsOfAnOfflineNodeAreCancelled: a call from a node that goes
// offline is cancelled where it runs.
func TestCallsOfAnOfflineNodeAreCancelled(t *testing.T) {
	s := startServer(t)
	px := newProxy(t, s)
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	startNode(t, s.ClientURL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		actions.Register(b, "bench.wait", func(ctx context.Context) error {
			started <- struct{}{}
			<-ctx.Done()
			cancelled <- ctx.Err()
			return ctx.Err()
		})
		return nil
	})
	main := startNode(t, px.URL(), "main", nil)
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "bench.wait")
	go watcher.Call(context.Background(), "bench.wait") //nolint:errcheck // it fails when main goes offline
	<-started
	px.SetMode(faultproxy.Blackhole) // main is gone, for pi1
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the call ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call of a node that went offline was not cancelled")
	}
}

// gatedHub hands the bridge node ports whose Receive calls gate before
// (done false) and after (done true) the hub took the messages.
type gatedHub struct {
	plumb.Hub
	gate func(ms []*kervipb.Msg, done bool)
}

func (h gatedHub) AttachNode(node string, send plumb.SendFunc) (plumb.Port, error) {
	p, err := h.Hub.AttachNode(node, send)
	if err != nil || node == "" {
		return p, err
	}
	return &gatedPort{p, h.gate}, nil
}

type gatedPort struct {
	plumb.Port
	gate func(ms []*kervipb.Msg, done bool)
}

func (p *gatedPort) Receive(ms []*kervipb.Msg) {
	p.gate(ms, false)
	p.Port.Receive(ms)
	p.gate(ms, true)
}

// TestCatalogueChangeAfterSnapshot: a change of a node's catalogue that
// comes while its snapshot is on the way into the hub reaches the hub
// after the snapshot: an id the node retires then leaves the catalogue,
// not comes back with the snapshot.
func TestCatalogueChangeAfterSnapshot(t *testing.T) {
	s := startServer(t)
	pi := startNode(t, s.ClientURL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		values.NewNumber(b, "bench.temp", "Temperature")
		return nil
	})
	blocked, release, retired := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	main := startNodeWith(t, s.ClientURL(), "main", nil, func(h plumb.Hub) plumb.Hub {
		return gatedHub{h, func(ms []*kervipb.Msg, done bool) {
			for _, m := range ms {
				switch {
				case !done && m.Kind == kervipb.Kind_KIND_ANNOUNCE && m.Id == "bench.temp":
					once.Do(func() { close(blocked); <-release })
				case done && m.Kind == kervipb.Kind_KIND_RETIRE && m.Id == "bench.temp":
					select {
					case retired <- struct{}{}:
					default:
					}
				}
			}
		}}
	})
	watcher := main.bus(t)
	<-blocked // main's snapshot of pi1's catalogue is on its way into the hub
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	changes, err := nc.SubscribeSync("kervi.t.cat.pi1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	pi.hub.Hub.Retire("mod_pi1")
	if _, err := changes.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("pi1 published no catalogue change: %v", err)
	}
	// Main got the change too: give it the time to apply it (if it did
	// not wait for the snapshot, the retire comes now).
	select {
	case <-retired:
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := watcher.Describe(ctx, "bench.temp")
		if errors.Is(err, ipc.ErrUnknownID) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("bench.temp, retired by pi1, is still in main's catalogue: %v", err)
		}
		select {
		case <-retired:
		case <-ctx.Done():
		}
	}
}

// TestEventWhileSnapshotGoesIn: an event of a node back online that comes
// while its catalogue goes into the hub again is not lost for good: the
// followers here end on the latest value.
func TestEventWhileSnapshotGoesIn(t *testing.T) {
	s := startServer(t)
	px := newProxy(t, s)
	var temp *values.Number
	startNode(t, px.URL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		temp = values.NewNumber(b, "bench.temp", "Temperature")
		return nil
	})
	var gating atomic.Bool
	blocked, release, sawEvent := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	main := startNodeWith(t, s.ClientURL(), "main", nil, func(h plumb.Hub) plumb.Hub {
		return gatedHub{h, func(ms []*kervipb.Msg, done bool) {
			if done || !gating.Load() {
				return
			}
			for _, m := range ms {
				switch {
				case m.Kind == kervipb.Kind_KIND_ANNOUNCE && m.Id == "bench.temp":
					once.Do(func() { close(blocked); <-release })
				case m.Kind == kervipb.Kind_KIND_EVENT && m.Id == "bench.temp":
					select {
					case sawEvent <- struct{}{}:
					default:
					}
				}
			}
		}}
	})
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "bench.temp")
	got := numbers(t, watcher, "bench.temp", 100)
	if err := temp.Set(1); err != nil {
		t.Fatal(err)
	}
	waitValue(t, got, 1)

	// Main loses pi1, then finds it again; its snapshot is held on its way
	// into the hub while pi1's value changes.
	gating.Store(true)
	px.SetMode(faultproxy.Blackhole)
	testbus.Eventually(t, "main sees pi1 offline", func() bool {
		for _, n := range main.br.Nodes() {
			if n.Name == "pi1" {
				return !n.Online
			}
		}
		return false
	})
	px.SetMode(faultproxy.Pass)
	testbus.Wait(t, blocked, "main's snapshot of pi1's catalogue")
	if err := temp.Set(2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sawEvent: // (what a bridge that takes it too early does)
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	waitValue(t, got, 2)
}

// TestCloseWhileANodeComesOnline: a bridge closed while it attaches a node
// that came online leaves no port of it in the hub.
func TestCloseWhileANodeComesOnline(t *testing.T) {
	s := startServer(t)
	startNode(t, s.ClientURL(), "pi1", nil)
	brc := make(chan *Bridge, 1)
	var once sync.Once
	var hub plumb.Hub
	main := startNodeWith(t, s.ClientURL(), "main", nil, func(h plumb.Hub) plumb.Hub {
		hub = h
		return closingHub{h, func() { once.Do(func() { testbus.Wait(t, brc, "the bridge").Close() }) }}
	})
	brc <- main.br
	testbus.Eventually(t, "main closed", func() bool {
		main.br.mu.Lock()
		defer main.br.mu.Unlock()
		return main.br.closed
	})
	// pi1's port, if left, is still attached: attaching it again fails.
	testbus.Eventually(t, "no port of pi1 in main's hub", func() bool {
		p, err := hub.AttachNode("pi1", func([]*kervipb.Msg) error { return nil })
		if err != nil {
			return false
		}
		p.Detach()
		return true
	})
}

// closingHub calls before when the bridge attaches a node.
type closingHub struct {
	plumb.Hub
	before func()
}

func (h closingHub) AttachNode(node string, send plumb.SendFunc) (plumb.Port, error) {
	if node != "" {
		h.before()
	}
	return h.Hub.AttachNode(node, send)
}

// TestUnfollowedWhileOffline: an id processes here stopped following while
// its node was offline is no longer followed once the node is back.
func TestUnfollowedWhileOffline(t *testing.T) {
	s := startServer(t)
	px := newProxy(t, s)
	var temp *values.Number
	pi := startNode(t, px.URL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		temp = values.NewNumber(b, "bench.temp", "Temperature")
		return nil
	})
	main := startNode(t, s.ClientURL(), "main", nil)
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "bench.temp")
	got := make(chan float64, 100)
	sub, err := watcher.Subscribe("bench.temp", func(e ipc.Event) { got <- e.Value.Number() })
	if err != nil {
		t.Fatal(err)
	}
	if err := temp.Set(1); err != nil {
		t.Fatal(err)
	}
	waitValue(t, got, 1)
	followed := func() bool {
		pi.br.mu.Lock()
		defer pi.br.mu.Unlock()
		return pi.br.follows["bench.temp"]["main"]
	}
	pi1 := func() (NodeState, *remote) {
		main.br.mu.Lock()
		defer main.br.mu.Unlock()
		r := main.br.nodes["pi1"]
		return r.state(), r
	}

	px.SetMode(faultproxy.Blackhole)
	testbus.Eventually(t, "main sees pi1 offline", func() bool { st, _ := pi1(); return !st.Online })
	sub.Close()
	px.SetMode(faultproxy.Pass)
	testbus.Eventually(t, "main has pi1's catalogue again", func() bool {
		_, r := pi1()
		main.br.mu.Lock()
		defer main.br.mu.Unlock()
		return r.ready
	})
	testbus.Eventually(t, "pi1 no longer publishes bench.temp for main", func() bool { return !followed() })
}

// TestCancelledCallOfASilentNode: a call to a node that never answers
// ends in the hub when its caller cancels it, not when the node goes
// offline (the answer of a call can be lost with a link that drops for
// less than OfflineAfter).
func TestCancelledCallOfASilentNode(t *testing.T) {
	s := startServer(t)
	ghost := fakeNode(t, s.ClientURL(), "ghost", []string{"ghost.act"})
	main := startNode(t, s.ClientURL(), "main", nil)
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "ghost.act")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := watcher.Call(ctx, "ghost.act"); done <- err }()
	testbus.Wait(t, ghost, "the call at ghost")
	cancel()
	if err := testbus.Wait(t, done, "the call's end"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled call: %v", err)
	}
	testbus.Eventually(t, "the call's end in the hub", func() bool { _, calls := main.hub.Hub.Size(); return calls == 0 })
}

// fakeNode is a node of a raw NATS connection that owns actions ids
// (sorted), beats and never answers a call: each comes on the channel it
// returns.
func fakeNode(t *testing.T, url, name string, ids []string) <-chan *kervipb.Msg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	calls := make(chan *kervipb.Msg, 100)
	const epoch = 7
	if _, err := nc.Subscribe("kervi.t.to."+name+".*.req", func(msg *nats.Msg) {
		m := &kervipb.Msg{}
		if m.UnmarshalVT(msg.Data) == nil {
			calls <- m
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("kervi.t.to."+name+".*.ctl", func(msg *nats.Msg) {
		var c control
		if json.Unmarshal(msg.Data, &c) != nil || msg.Reply == "" {
			return
		}
		data, _ := json.Marshal(controlReply{})
		if c.Op == "catalogue" {
			f := &kervipb.Frame{}
			for _, id := range ids {
				if id <= c.After {
					continue
				}
				if len(f.Msgs) == catPage {
					break
				}
				f.Msgs = append(f.Msgs, &kervipb.Msg{Kind: kervipb.Kind_KIND_CATALOGUE, Id: id, Component: &kervipb.Component{
					Kind: kervipb.ComponentKind_COMPONENT_KIND_ACTION, Module: "mod_" + name, Name: id}})
			}
			more := len(f.Msgs) == catPage && f.Msgs[catPage-1].Id != ids[len(ids)-1]
			f.Msgs = append(f.Msgs, &kervipb.Msg{Kind: kervipb.Kind_KIND_CATALOGUE_SYNCED, Epoch: epoch, Flag: more})
			data, _ = f.MarshalVT()
		}
		_ = msg.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for seq := uint64(1); ; seq++ {
			data, _ := json.Marshal(heartbeat{Node: name, Epoch: epoch, Seq: seq, Version: "fake", Time: time.Now().UnixNano()})
			_ = nc.Publish("kervi.t.hb."+name, data)
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-beats })
	return calls
}

// TestCataloguePageOfLocalIDs: a node's catalogue whose page holds only
// ids local here (another version's, say) is read to its end.
func TestCataloguePageOfLocalIDs(t *testing.T) {
	s := startServer(t)
	var ids []string
	for i := range catPage + 10 {
		ids = append(ids, fmt.Sprintf("a.local.%04d", i))
	}
	ids = append(ids, "z.act")
	fakeNode(t, s.ClientURL(), "ghost", ids)
	main := startNodeConfig(t, s.ClientURL(), "main", func(c *Config) {
		c.LocalOnly = func(id string) bool { return strings.HasPrefix(id, "a.local.") }
	})
	waitAnnounced(t, main.bus(t), "z.act")
}

// TestIDTakenByALocalModule: an id of another node that a module here
// takes is no longer followed from that node.
func TestIDTakenByALocalModule(t *testing.T) {
	s := startServer(t)
	var shared *values.Number
	pi := startNode(t, s.ClientURL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		shared = values.NewNumber(b, "shared", "Shared")
		return nil
	})
	main := startNode(t, s.ClientURL(), "main", nil)
	watcher := main.bus(t)
	waitAnnounced(t, watcher, "shared")
	got := numbers(t, watcher, "shared", 100)
	if err := shared.Set(1); err != nil {
		t.Fatal(err)
	}
	waitValue(t, got, 1)
	if _, err := watcher.RegisterValue(ipc.Description{ID: "shared", Name: "Shared here", Type: ipc.TypeNumber}, nil); err != nil {
		t.Fatal(err)
	}
	testbus.Eventually(t, "pi1 no longer publishes shared for main", func() bool {
		pi.br.mu.Lock()
		defer pi.br.mu.Unlock()
		return !pi.br.follows["shared"]["main"]
	})
}

// TestForgedRequestsAreRefused: a control request that says it comes from
// another node than its subject's sender is refused, and a request whose
// answer would go anywhere but its sender's inbox is not answered.
func TestForgedRequestsAreRefused(t *testing.T) {
	s := startServer(t)
	startNode(t, s.ClientURL(), "pi1", func(ctx context.Context, b *ipc.Bus) error {
		values.NewNumber(b, "bench.temp", "Temperature")
		actions.Register(b, "bench.water", func() string { return "watered" })
		return nil
	})
	nc, err := nats.Connect(s.ClientURL(), nats.CustomInboxPrefix("kervi.t.in.evil"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// "evil" beats until pi1 takes its requests, then says it is main.
	deadline := time.Now().Add(10 * time.Second)
	var msg *nats.Msg
	for seq := 1; ; seq++ {
		hb := fmt.Sprintf(`{"node":"evil","epoch":3,"seq":%d}`, seq)
		if err := nc.Publish("kervi.t.hb.evil", []byte(hb)); err != nil {
			t.Fatal(err)
		}
		msg, err = nc.Request("kervi.t.to.pi1.evil.ctl", []byte(`{"op":"follow","node":"main","epoch":3,"ids":["bench.temp"]}`), time.Second)
		if err == nil || !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg.Data), `node \"evil\" sent a control request as node \"main\"`) {
		t.Fatalf("a control request as another node: %s", msg.Data)
	}
	// A call whose answer would land on main's inbox (or anywhere else).
	elsewhere, err := nc.SubscribeSync("kervi.t.in.main.>")
	if err != nil {
		t.Fatal(err)
	}
	call, _ := (&kervipb.Msg{Kind: kervipb.Kind_KIND_CALL, Id: "bench.water"}).MarshalVT()
	if err := nc.PublishRequest("kervi.t.to.pi1.evil.req", "kervi.t.in.main.c.1.1", call); err != nil {
		t.Fatal(err)
	}
	// A call the right way is answered: the forged one before it was not.
	inbox := "kervi.t.in.evil.c.1.1"
	mine, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("kervi.t.to.pi1.evil.req", inbox, call); err != nil {
		t.Fatal(err)
	}
	if _, err := mine.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("a call answered to its sender's inbox: %v", err)
	}
	if m, err := elsewhere.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("pi1 answered a call on another node's inbox: %s", m.Subject)
	}
}

// newProxy returns a fault proxy in front of server s, closed when the test
// ends.
func newProxy(t *testing.T, s *server.Server) *faultproxy.Proxy {
	t.Helper()
	px, err := faultproxy.New(strings.TrimPrefix(s.ClientURL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// numbers subscribes bus to the number value id: its events come on the
// channel, which holds size of them.
func numbers(t *testing.T, bus *ipc.Bus, id string, size int) <-chan float64 {
	t.Helper()
	got := make(chan float64, size)
	if _, err := bus.Subscribe(id, func(e ipc.Event) { got <- e.Value.Number() }); err != nil {
		t.Fatal(err)
	}
	return got
}
