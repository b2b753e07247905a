// Package nats links NATS into a kervi program so that it can run on
// several nodes (kervi.WithNodes): the main node's embedded NATS server,
// each node's connection, and the bridge that joins the nodes' hubs. A
// program imports it for its side effect, as a database/sql driver:
//
//	import _ "github.com/kervi/kervi-go/nodes/nats"
//
// A program that runs on one machine does not import it, and so links no
// NATS: it is about 14 MB smaller and no slower. Without it, WithNodes
// makes kervi.NewApplication fail with an error that says to import it.
package nats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/internal/bridge"
	"github.com/kervi/kervi-go/internal/cluster"
	"github.com/kervi/kervi-go/internal/natsnode"
	"github.com/kervi/kervi-go/nodes"
)

func init() { cluster.Start = start }

// link is a running node's link to the others.
type link struct {
	srv *server.Server
	nc  *natsgo.Conn
	br  *bridge.Bridge
	// live is br while the connection's callbacks may reach it: nil
	// before the bridge starts and once Leave or Stop begins, so that
	// closing the connection at stop does not report the link down.
	mu   sync.Mutex
	live *bridge.Bridge
}

// start joins this node to the others: the main node starts the NATS
// server (unless an existing NATS is given), every node dials it and
// starts its bridge. A node other than main that cannot reach NATS yet
// runs its modules anyway; its connection keeps trying.
func start(ctx context.Context, cfg cluster.Config) (cluster.Cluster, error) {
	log := cfg.Logger
	c := &link{}
	withBridge := func(fn func(*bridge.Bridge)) {
		c.mu.Lock()
		b := c.live
		c.mu.Unlock()
		if b != nil {
			fn(b)
		}
	}
	dc := natsnode.DialConfig{
		App: cfg.App, Node: cfg.Node,
		OnDisconnect: func(err error) { withBridge(func(b *bridge.Bridge) { b.LinkDown(err) }) },
		OnReconnect:  func() { withBridge(func(b *bridge.Bridge) { b.LinkUp() }) },
		OnError: func(err error) {
			log.Warn("nodes: NATS", "error", err)
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				// Events were dropped on the way in: ask for the last ones.
				withBridge(func(b *bridge.Bridge) { b.Resync() })
			}
		},
	}
	switch {
	case len(cfg.NATSURLs) > 0:
		// An existing NATS: its operator lets the nodes in, with a
		// .creds file, or with the nodes' keys of the join files.
		dc.URLs, dc.Creds = cfg.NATSURLs, cfg.Creds
		if j := cfg.Join; j != nil && cfg.Creds == "" {
			pool, err := j.CAPool()
			if err != nil {
				return nil, err
			}
			dc.Seed, dc.RootCAs = []byte(j.Seed), pool
		} else if cfg.IsMain && cfg.Creds == "" {
			d, err := nodes.OpenDir(cfg.NodeDir, cfg.App)
			if err != nil {
				return nil, err
			}
			dc.Seed = []byte(d.MainJoin().Seed)
		}
	case cfg.IsMain:
		d, err := nodes.OpenDir(cfg.NodeDir, cfg.App)
		if err != nil {
			return nil, err
		}
		sc := natsnode.ServerConfig{App: cfg.App, Listen: cfg.Listen, LeafListen: cfg.LeafListen,
			Logger: log.With("part", "nats-server")}
		mainJoin := d.MainJoin()
		pub, err := mainJoin.PublicKey()
		if err != nil {
			return nil, err
		}
		sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: cfg.Main, PublicKey: pub})
		for _, n := range d.Nodes() {
			// A site's leaf hub carries its members' traffic too.
			sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: n.Name, PublicKey: n.PublicKey, Members: n.Members})
		}
		if cfg.Listen != "" || cfg.LeafListen != "" {
			// TLS even on loopback: the join files pin the CA.
			hosts := slices.Clone(cfg.Hosts)
			if h, err := os.Hostname(); err == nil && h != "" {
				hosts = append(hosts, h, h+".local")
			}
			if sc.TLS, err = d.ServerTLS(hosts...); err != nil {
				return nil, err
			}
		}
		if c.srv, err = natsnode.StartServer(sc); err != nil {
			return nil, err
		}
		log.Info("nodes: NATS server ready", "listen", cfg.Listen, "url", sc.URL(c.srv), "nodes", len(sc.Nodes)-1, "pairing", d.Path())
		dc.Server, dc.Seed = c.srv, []byte(mainJoin.Seed)
	default:
		j := cfg.Join
		if j == nil {
			return nil, fmt.Errorf("node %q needs a join file (KERVI_JOIN=path or kervi.WithJoinFile): make one on the main node "+
				"with go run github.com/kervi/kervi-go/nodes/cmd/kervi-node -app %s add %s -url tls://MAIN:4222",
				cfg.Node, cfg.App, cfg.Node)
		}
		if j.Leaf != nil {
			// A site's leaf hub embeds the site's server.
			srv, sc, err := startSite(cfg, j)
			if err != nil {
				return nil, fmt.Errorf("node %q: site server: %w", cfg.Node, err)
			}
			c.srv = srv
			log.Info("nodes: site NATS server ready", "url", sc.URL(srv), "members", len(j.Leaf.Members), "main", j.URLs)
			dc.Server, dc.Seed = srv, []byte(j.Seed)
			break
		}
		pool, err := j.CAPool()
		if err != nil {
			return nil, err
		}
		dc.URLs, dc.Seed, dc.RootCAs = j.URLs, []byte(j.Seed), pool
	}
	dc.KeepTrying = !cfg.IsMain
	// A node waits a second for main at most before it runs its modules;
	// its connection goes on trying.
	wait := 3 * time.Second
	if dc.KeepTrying {
		wait = time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	nc, err := natsnode.Dial(dctx, dc)
	cancel()
	if err != nil && (nc == nil || natsnode.IsAuthError(err)) {
		c.Stop()
		return nil, fmt.Errorf("node %q: %w", cfg.Node, err)
	}
	if err != nil {
		log.Warn("nodes: NATS not reachable yet; this node runs its modules and keeps trying", "error", err)
	}
	c.nc = nc
	b, err := bridge.Start(bridge.Config{
		App: cfg.App, Node: cfg.Node, Main: cfg.Main, Conn: nc, Hub: cfg.Hub, Logger: log,
		Heartbeat: cfg.Heartbeat, OfflineAfter: cfg.OfflineAfter, Version: cfg.Version, LocalOnly: cfg.LocalOnly,
		OnNode: cfg.OnNode, Now: cfg.Now,
	})
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.mu.Lock()
	c.live = b
	c.mu.Unlock()
	c.br = b
	return c, nil
}

// Leave tells the other nodes this node stops and closes its bridge,
// before its modules stop: the others keep its ids, stale, until it is
// back, rather than seeing them retired one by one.
func (c *link) Leave() {
	if c.br == nil {
		return
	}
	c.mu.Lock()
	c.live = nil
	c.mu.Unlock()
	c.br.Leave(time.Second)
}

// Stop closes the bridge, the connection and the server.
func (c *link) Stop() {
	c.mu.Lock()
	c.live = nil
	c.mu.Unlock()
	if c.br != nil {
		c.br.Close()
	}
	if c.nc != nil {
		c.nc.Close()
	}
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
}

// startSite starts the NATS server of a site's leaf hub, node j.Node: it
// dials main's leaf listener at j.URLs with the node's key, pinning main's
// CA, and lets in the hub itself (in-process) and the site's members, each
// with its own permissions.
func startSite(cfg cluster.Config, j *nodes.Join) (*server.Server, natsnode.ServerConfig, error) {
	sc := natsnode.ServerConfig{App: cfg.App, Listen: cfg.SiteListen, Logger: cfg.Logger.With("part", "nats-site")}
	pub, err := j.PublicKey()
	if err != nil {
		return nil, sc, err
	}
	sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: j.Node, PublicKey: pub})
	for _, m := range j.Leaf.Members {
		sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: m.Name, PublicKey: m.PublicKey})
	}
	pool, err := j.CAPool()
	if err != nil {
		return nil, sc, err
	}
	if sc.TLS, err = j.Leaf.TLS(); err != nil {
		return nil, sc, err
	}
	sc.Remote = &natsnode.Remote{URLs: j.URLs, Seed: []byte(j.Seed), RootCAs: pool}
	srv, err := natsnode.StartServer(sc)
	if err != nil {
		return nil, sc, err
	}
	return srv, sc, nil
}
