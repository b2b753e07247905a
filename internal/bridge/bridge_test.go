package bridge

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/actions"
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
	br, err = Start(Config{App: "t", Node: name, Conn: n.nc, Hub: n.hub.Hub, Heartbeat: 50 * time.Millisecond,
		OfflineAfter: 400 * time.Millisecond, Version: "test"})
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
	for {
		d, err := watcher.Describe(ctx, "bench.water")
		if err == nil {
			if d.Node != "pi1" || d.Module != "mod_pi1" {
				t.Fatalf("description %+v: want node pi1, module mod_pi1", d)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("bench.water never reached main:", err)
		}
		time.Sleep(10 * time.Millisecond) // polling the catalogue; replaced below by FollowCatalogue
	}
	got := make(chan float64, 100)
	if _, err := watcher.Subscribe("bench.temp", func(e ipc.Event) { got <- e.Value.Number() }); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if err := temp.Set(float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	last := 0.0
	for last < 50 {
		select {
		case v := <-got:
			if v <= last {
				t.Fatalf("event %v after %v: out of order", v, last)
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
