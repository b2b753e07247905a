package ipc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/ipc"
)

// proxy records what the hub sends a node's proxy port.
type proxy struct {
	port plumb.Port
	mu   sync.Mutex
	got  []*kervipb.Msg
	more chan struct{}
}

func attachNode(t *testing.T, h plumb.Hub, node string) *proxy {
	t.Helper()
	p := &proxy{more: make(chan struct{}, 1)}
	port, err := h.AttachNode(node, func(ms []*kervipb.Msg) error {
		p.mu.Lock()
		p.got = append(p.got, ms...)
		p.mu.Unlock()
		select {
		case p.more <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.port = port
	return p
}

// wait returns the first message the port got that matches.
func (p *proxy) wait(t *testing.T, what string, match func(*kervipb.Msg) bool) *kervipb.Msg {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		p.mu.Lock()
		for _, m := range p.got {
			if match(m) {
				p.mu.Unlock()
				return m
			}
		}
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-timeout:
			t.Fatalf("the proxy port never got %s", what)
		}
	}
}

func announce(id, module string) *kervipb.Msg {
	return &kervipb.Msg{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: id, Component: &kervipb.Component{
		Kind: kervipb.ComponentKind_COMPONENT_KIND_VALUE, Module: module, Name: id, Type: kervipb.ValueType_VALUE_TYPE_NUMBER}}
}

// TestProxyPorts: a node's proxy port owns that node's ids on behalf of
// its modules: they are described with their module and node, followers
// bring interest (latest-only ones too), calls reach the port, and when
// the port goes the calls fail naming the node. A module of this node
// wins an id over an import, naming both nodes.
func TestProxyPorts(t *testing.T) {
	h, bus := mainHub(t, plumb.HubOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pi := attachNode(t, h, "pi1")
	pi.port.Receive([]*kervipb.Msg{announce("bench.temp", "bench"), announce("shared", "bench")})
	d, err := bus.Describe(ctx, "bench.temp")
	if err != nil || d.Module != "bench" || d.Node != "pi1" {
		t.Fatalf("bench.temp is described as %+v (%v): want module bench on node pi1", d, err)
	}

	// A latest-only follower is interest in an imported id.
	got := make(chan float64, 10)
	sub, err := bus.Subscribe("bench.temp", func(e ipc.Event) { got <- e.Value.Number() }, ipc.LatestOnly())
	if err != nil {
		t.Fatal(err)
	}
	pi.wait(t, "interest in bench.temp", func(m *kervipb.Msg) bool {
		return m.Kind == kervipb.Kind_KIND_INTEREST && m.Id == "bench.temp" && m.Flag
	})
	pi.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_EVENT, Id: "bench.temp", Type: kervipb.ValueType_VALUE_TYPE_NUMBER, Number: 21}})
	if v := <-got; v != 21 {
		t.Fatalf("event %v", v)
	}
	sub.Close()

	// A call reaches the port, with its caller's module; the answer comes back.
	done := make(chan error, 1)
	go func() { _, err := bus.Call(ctx, "bench.temp.nothing"); done <- err }()
	if err := <-done; !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("a call of an unknown id: %v", err)
	}
	// The id is a value: a set goes to the port.
	go func() { done <- bus.Set(ctx, "bench.temp", 5.0) }()
	set := pi.wait(t, "the set", func(m *kervipb.Msg) bool { return m.Kind == kervipb.Kind_KIND_SET })
	if set.Module != "house" {
		t.Fatalf("the set names module %q, want house", set.Module)
	}
	pi.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_RESULT, Seq: set.Seq, Id: set.Id}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A module of this node takes "shared" from the import, naming both.
	if _, err := bus.RegisterValue(ipc.Description{ID: "shared", Name: "Shared", Type: ipc.TypeNumber}, nil); err != nil {
		t.Fatal(err)
	}
	rej := pi.wait(t, "the refusal of shared", func(m *kervipb.Msg) bool { return m.Kind == kervipb.Kind_KIND_REJECTED && m.Id == "shared" })
	for _, w := range []string{`module "bench" on node "pi1"`, `module "house" on node "main"`} {
		if !strings.Contains(rej.GetError().GetMessage(), w) {
			t.Fatalf("the refusal %q does not name %s", rej.GetError().GetMessage(), w)
		}
	}
	if d, err := bus.Describe(ctx, "shared"); err != nil || d.Node != "main" {
		t.Fatalf("shared is %+v (%v), want main's", d, err)
	}
	// pi1 claims it again: refused.
	pi.port.Receive([]*kervipb.Msg{announce("shared", "bench")})

	// The node goes: its ids stay, calls fail naming it.
	pi.port.Detach()
	err = bus.Set(ctx, "bench.temp", 1.0)
	if !errors.Is(err, ipc.ErrOwnerGone) || !strings.Contains(err.Error(), `node "pi1" is offline`) {
		t.Fatalf("a set of an offline node's value: %v", err)
	}
	if d, err := bus.Describe(ctx, "bench.temp"); err != nil || d.Node != "pi1" {
		t.Fatalf("bench.temp left the catalogue when its node went: %+v, %v", d, err)
	}

	// A node's port cannot serve another node's ids (nothing is re-exported).
	pi2 := attachNode(t, h, "pi2")
	pi3 := attachNode(t, h, "pi3")
	pi3.port.Receive([]*kervipb.Msg{announce("far.x", "far")})
	pi2.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_SET, Seq: 7, Id: "far.x", Type: kervipb.ValueType_VALUE_TYPE_NUMBER}})
	res := pi2.wait(t, "the answer to a set of another node's id", func(m *kervipb.Msg) bool { return m.Kind == kervipb.Kind_KIND_RESULT && m.Seq == 7 })
	if res.GetError().GetCode() != kervipb.Code_CODE_UNKNOWN_ID || !strings.Contains(res.GetError().GetMessage(), `node "pi3"`) {
		t.Fatalf("a node set another node's id through this one: %v", res.GetError())
	}
	// A node retires its id.
	pi3.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_RETIRE, Id: "far.x"}})
	if _, err := bus.Describe(ctx, "far.x"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("far.x after its node retired it: %v", err)
	}
}

// TestProxyRetiresWhileBack: a node that comes back (a new proxy port)
// retires an id it no longer has, which it owned before it went offline:
// the id leaves the catalogue, not stays as owned by an offline node.
func TestProxyRetiresWhileBack(t *testing.T) {
	h, bus := mainHub(t, plumb.HubOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	pi := attachNode(t, h, "pi1")
	pi.port.Receive([]*kervipb.Msg{announce("bench.old", "bench")})
	if d, err := bus.Describe(ctx, "bench.old"); err != nil || d.Node != "pi1" {
		t.Fatalf("bench.old: %+v, %v", d, err)
	}
	pi.port.Detach() // offline
	back := attachNode(t, h, "pi1")
	back.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_RETIRE, Id: "bench.old"}})
	if _, err := bus.Describe(ctx, "bench.old"); !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("bench.old after pi1 came back without it: %v", err)
	}
	// Another node cannot retire it.
	other := attachNode(t, h, "pi2")
	back.port.Receive([]*kervipb.Msg{announce("bench.kept", "bench")})
	back.port.Detach()
	other.port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_RETIRE, Id: "bench.kept"}})
	if d, err := bus.Describe(ctx, "bench.kept"); err != nil || d.Node != "pi1" {
		t.Fatalf("pi2 retired pi1's id: %+v, %v", d, err)
	}
}

// TestNodeCalledBridge: a node may be called "bridge", "@bridge" as a
// port, while the bridge's own port is attached.
func TestNodeCalledBridge(t *testing.T) {
	h := plumb.NewHub(plumb.HubOptions{Node: "main"})
	attachNode(t, h, "")
	attachNode(t, h, "bridge")
}

// TestProxyBusyNamesTheNode: the calls in flight to a node are bounded
// for all its modules together, and the refusal says so.
func TestProxyBusyNamesTheNode(t *testing.T) {
	h, bus := mainHub(t, plumb.HubOptions{Limits: ipc.Limits{MaxCalls: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pi := attachNode(t, h, "pi1")
	pi.port.Receive([]*kervipb.Msg{announce("bench.a", "bench"), announce("other.b", "other")})
	done := make(chan error, 1)
	go func() { done <- bus.Set(ctx, "bench.a", 1.0) }()
	pi.wait(t, "the set", func(m *kervipb.Msg) bool { return m.Kind == kervipb.Kind_KIND_SET })
	// From another module (each is bounded on its side too).
	rt2, port2, err := h.Connect("garage", plumb.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { port2.Detach(); rt2.Kill() }()
	if err := rt2.RunSetup(nil); err != nil {
		t.Fatal(err)
	}
	err = rt2.Handle().(*ipc.Bus).Set(ctx, "other.b", 1.0)
	if !errors.Is(err, ipc.ErrBusy) || !strings.Contains(err.Error(), `node "pi1" has 1 calls`) {
		t.Fatalf("a set over the limit of calls to node pi1: %v", err)
	}
	cancel()
	<-done
}

// mainHub returns the hub of node "main", started, with module "house"
// connected and ready; its bus goes when the test ends.
func mainHub(t *testing.T, opts plumb.HubOptions) (plumb.Hub, *ipc.Bus) {
	t.Helper()
	opts.Node = "main"
	h := plumb.NewHub(opts)
	rt, port, err := h.Connect("house", plumb.BusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Detach(); rt.Kill() })
	if err := rt.RunSetup(nil); err != nil {
		t.Fatal(err)
	}
	h.Start()
	<-port.Started()
	h.SetAppReady()
	return h, rt.Handle().(*ipc.Bus)
}
