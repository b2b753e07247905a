package natsnode

import (
	"context"
	"crypto/tls"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/nodes"
)

// TestLeafNodeAuthenticatesAsANode runs a site server as a leaf of main's,
// authenticated with node a's key: a's events flow both ways, but the leaf
// cannot publish b's events into main.
func TestLeafNodeAuthenticatesAsANode(t *testing.T) {
	dir, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	joins := map[string]*nodes.Join{}
	var keys []NodeKey
	for _, n := range []string{"a", "b"} {
		j, err := dir.Add(n, []string{"tls://127.0.0.1:4222"})
		if err != nil {
			t.Fatal(err)
		}
		joins[n] = j
		pub, _ := j.PublicKey()
		keys = append(keys, NodeKey{Name: n, PublicKey: pub})
	}
	tlsConf, err := dir.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{App: testApp, Listen: "127.0.0.1:0", LeafListen: "127.0.0.1:0", Nodes: keys, TLS: tlsConf, Logger: testLogger(t)}
	hub, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	leafURL, err := url.Parse(cfg.LeafURL(hub))
	if err != nil || leafURL.Scheme != "tls" {
		t.Fatalf("leaf URL %v: %v", leafURL, err)
	}

	site, err := server.NewServer(&server.Options{
		ServerName: "site",
		DontListen: true,
		NoSigs:     true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{
			URLs: []*url.URL{leafURL},
			// RemoteLeafOpts.Nkey is the seed: the server signs the
			// nonce with it. (SignatureCB sends no public key, so it
			// cannot authenticate an NKEY user.)
			Nkey:      joins["a"].Seed,
			TLS:       true,
			TLSConfig: &tls.Config{RootCAs: dir.CAPool(), MinVersion: tls.VersionTLS12},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	site.SetLoggerV2(slogAdapter{testLogger(t)}, false, false, false)
	site.Start()
	t.Cleanup(func() { site.Shutdown(); site.WaitForShutdown() })
	if !site.ReadyForConnections(5 * time.Second) {
		t.Fatal("site server not ready")
	}
	local, err := nats.Connect("", nats.InProcessServer(site))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	b, err := dialTest(t, DialConfig{App: testApp, Node: "b", URLs: []string{cfg.URL(hub)}, Seed: []byte(joins["b"].Seed), RootCAs: dir.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	evB, err := b.nc.SubscribeSync(Prefix(testApp) + ".ev.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The leaf connects and b's interest crosses it asynchronously:
	// publish until b sees one, within a deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var got *nats.Msg
	for got == nil {
		if err := local.Publish(EventSubject(testApp, "a", "v"), []byte("1")); err != nil {
			t.Fatal(err)
		}
		got, _ = evB.NextMsg(50 * time.Millisecond) // nil until the leaf is up
		if got == nil && ctx.Err() != nil {
			t.Fatalf("node b got no event of a through the leaf within 5 s (leaf connections: site %d, main %d)",
				site.NumLeafNodes(), hub.NumLeafNodes())
		}
	}
	// Drain what a's repeated publishes left, then forge b's event.
	for {
		m, err := evB.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		if !strings.HasPrefix(m.Subject, "kervi.app.ev.a.") {
			t.Fatalf("unexpected %s", m.Subject)
		}
	}
	if err := local.Publish(EventSubject(testApp, "b", "v"), []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := local.Publish(EventSubject(testApp, "a", "w"), []byte("after")); err != nil {
		t.Fatal(err)
	}
	// Order is kept over the leaf: once a's later event arrives, the forged
	// one would have arrived before it.
	m := next(t, evB)
	if m.Subject != EventSubject(testApp, "a", "w") {
		t.Fatalf("node b got %s %q through the leaf, want only a's events", m.Subject, m.Data)
	}
}
