package faultproxy

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestNATSThroughProxy checks that a NATS client behind the proxy notices a
// blackhole through its pings and reconnects once the proxy passes again.
func TestNATSThroughProxy(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready within 10s")
	}
	p := newProxy(t, s.Addr().String())

	disconnected := make(chan error, 16)
	reconnected := make(chan struct{}, 16)
	nc, err := nats.Connect(p.URL(),
		nats.PingInterval(100*time.Millisecond),
		nats.MaxPingsOutstanding(3),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.Timeout(500*time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.IgnoreDiscoveredServers(),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			select {
			case disconnected <- err:
			default:
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}),
	)
	if err != nil {
		t.Fatalf("connect through proxy %s: %v", p.URL(), err)
	}
	t.Cleanup(nc.Close)

	sub, err := nc.Subscribe("echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	request := func(what string) {
		t.Helper()
		m, err := nc.Request("echo", []byte(what), 5*time.Second)
		if err != nil {
			t.Fatalf("request %q: %v", what, err)
		}
		if string(m.Data) != what {
			t.Fatalf("reply = %q, want %q", m.Data, what)
		}
	}
	request("before")

	start := time.Now()
	p.SetMode(Blackhole)
	select {
	case err := <-disconnected:
		t.Logf("disconnect noticed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not notice the blackhole within 5s")
	}

	start = time.Now()
	p.SetMode(Pass)
	select {
	case <-reconnected:
		t.Logf("reconnected after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not reconnect within 10s of the blackhole ending")
	}
	request("after")
}
