//go:build !kervi_nonodes

package kervi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/internal/bridge"
	"github.com/kervi/kervi-go/internal/natsnode"
	"github.com/kervi/kervi-go/nodes"
)

// This file links NATS into the program: the build tag kervi_nonodes
// leaves it out (nodes_off.go), for a program that runs on one machine
// and wants a smaller binary.

// cluster is a running node's link to the others.
type cluster struct {
	srv *server.Server
	nc  *nats.Conn
	br  *bridge.Bridge
	// live is br while the connection's callbacks may reach it: nil
	// before the bridge starts and once stop begins, so that closing the
	// connection at stop does not report the link down.
	mu   sync.Mutex
	live *bridge.Bridge
	// strangers are the nodes that joined but WithNodes does not list,
	// warned about once.
	strangers sync.Map
	// stateMu orders nodeState: the bridge tells a node's states from
	// several goroutines, after releasing its lock, so a state can arrive
	// after a newer one; since is, per node, the Since of the newest
	// state published.
	stateMu sync.Mutex
	since   map[string]time.Time
}

// nodeState publishes a node's state on its values (main only).
func (a *Application) nodeState(c *cluster, st bridge.NodeState) {
	a.mu.Lock()
	nvs := a.nodeVals
	a.mu.Unlock()
	if nvs == nil {
		return // not the main node
	}
	nv := nvs[st.Name]
	if nv == nil {
		if _, warned := c.strangers.LoadOrStore(st.Name, true); !warned {
			a.log.Warn("a node joined that WithNodes does not list: it was paired, but runs no module of this program",
				"node", st.Name)
		}
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if st.Since.Before(c.since[st.Name]) {
		return // older than the state published: going offline told after coming back
	}
	if c.since == nil {
		c.since = map[string]time.Time{}
	}
	c.since[st.Name] = st.Since
	if nv.online.Value() != st.Online {
		_ = nv.online.Set(st.Online)
	}
	if off := st.Offset.Seconds(); nv.offset.Value() != off {
		_ = nv.offset.Set(off)
	}
	if st.Version != "" && nv.version.Value() != st.Version {
		_ = nv.version.Set(st.Version)
	}
}

// startCluster joins this node to the others: the main node starts the
// NATS server (unless WithNATS), every node dials it and starts its
// bridge. A node other than main that cannot reach NATS yet runs its
// modules anyway; its connection keeps trying.
func (a *Application) startCluster(ctx context.Context) (*cluster, error) {
	if !a.nodes.on {
		return nil, nil
	}
	o := a.opts
	c := &cluster{}
	withBridge := func(fn func(*bridge.Bridge)) {
		c.mu.Lock()
		b := c.live
		c.mu.Unlock()
		if b != nil {
			fn(b)
		}
	}
	dc := natsnode.DialConfig{
		App: o.name, Node: a.nodes.name,
		OnDisconnect: func(err error) { withBridge(func(b *bridge.Bridge) { b.LinkDown(err) }) },
		OnReconnect:  func() { withBridge(func(b *bridge.Bridge) { b.LinkUp() }) },
		OnError: func(err error) {
			a.log.Warn("nodes: NATS", "error", err)
			if errors.Is(err, nats.ErrSlowConsumer) {
				// Events were dropped on the way in: ask for the last ones.
				withBridge(func(b *bridge.Bridge) { b.Resync() })
			}
		},
	}
	switch {
	case len(o.natsURLs) > 0:
		// An existing NATS: its operator lets the nodes in, with a
		// .creds file, or with the nodes' keys of the join files.
		dc.URLs, dc.Creds = o.natsURLs, o.natsCreds
		if j := a.nodes.join; j != nil && o.natsCreds == "" {
			pool, err := j.CAPool()
			if err != nil {
				return nil, err
			}
			dc.Seed, dc.RootCAs = []byte(j.Seed), pool
		} else if a.isMain() && o.natsCreds == "" {
			d, err := nodes.OpenDir(a.nodeDir(), o.name)
			if err != nil {
				return nil, err
			}
			dc.Seed = []byte(d.MainJoin().Seed)
		}
	case a.isMain():
		d, err := nodes.OpenDir(a.nodeDir(), o.name)
		if err != nil {
			return nil, err
		}
		listen := os.Getenv(EnvNATSListen)
		if o.natsListen != nil {
			listen = *o.natsListen
		} else if listen == "" {
			listen = DefaultNATSListen
		}
		sc := natsnode.ServerConfig{App: o.name, Listen: listen, LeafListen: o.natsLeaf,
			Logger: a.log.With("part", "nats-server")}
		mainJoin := d.MainJoin()
		pub, err := mainJoin.PublicKey()
		if err != nil {
			return nil, err
		}
		sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: MainNode, PublicKey: pub})
		for _, n := range d.Nodes() {
			// A site's leaf hub carries its members' traffic too (site.go).
			sc.Nodes = append(sc.Nodes, natsnode.NodeKey{Name: n.Name, PublicKey: n.PublicKey, Members: n.Members})
		}
		if listen != "" || o.natsLeaf != "" {
			// TLS even on loopback: the join files pin the CA.
			hosts := slices.Clone(o.natsHosts)
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
		a.log.Info("nodes: NATS server ready", "listen", listen, "url", sc.URL(c.srv), "nodes", len(sc.Nodes)-1, "pairing", d.Path())
		dc.Server, dc.Seed = c.srv, []byte(mainJoin.Seed)
	default:
		j := a.nodes.join
		if j == nil {
			return nil, fmt.Errorf("node %q needs a join file (%s=path or kervi.WithJoinFile): make one on the main node "+
				"with go run github.com/kervi/kervi-go/nodes/cmd/kervi-node -app %s add %s -url tls://MAIN:4222",
				a.nodes.name, EnvJoin, o.name, a.nodes.name)
		}
		if j.Leaf != nil {
			// A site's leaf hub embeds the site's server (site_nats.go).
			srv, sc, err := a.startSite(j)
			if err != nil {
				return nil, fmt.Errorf("node %q: site server: %w", a.nodes.name, err)
			}
			c.srv = srv
			a.log.Info("nodes: site NATS server ready", "url", sc.URL(srv), "members", len(j.Leaf.Members), "main", j.URLs)
			dc.Server, dc.Seed = srv, []byte(j.Seed)
			break
		}
		pool, err := j.CAPool()
		if err != nil {
			return nil, err
		}
		dc.URLs, dc.Seed, dc.RootCAs = j.URLs, []byte(j.Seed), pool
	}
	dc.KeepTrying = !a.isMain()
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
		c.stop()
		return nil, fmt.Errorf("node %q: %w", a.nodes.name, err)
	}
	if err != nil {
		a.log.Warn("nodes: NATS not reachable yet; this node runs its modules and keeps trying", "error", err)
	}
	c.nc = nc
	b, err := bridge.Start(bridge.Config{
		App: o.name, Node: a.nodes.name, Main: MainNode, Conn: nc, Hub: a.hub, Logger: a.log,
		Heartbeat: o.nodeBeat, OfflineAfter: o.nodeOffline, Version: version(), LocalOnly: localOnly,
		OnNode: func(st bridge.NodeState) { a.nodeState(c, st) }, Now: o.nodeClock,
	})
	if err != nil {
		c.stop()
		return nil, err
	}
	c.mu.Lock()
	c.live = b
	c.mu.Unlock()
	c.br = b
	return c, nil
}

// leave tells the other nodes this node stops and closes its bridge, before
// its modules stop: the others keep its ids, stale, until it is back,
// rather than seeing them retired one by one.
func (c *cluster) leave() {
	if c == nil || c.br == nil {
		return
	}
	c.mu.Lock()
	c.live = nil
	c.mu.Unlock()
	c.br.Leave(time.Second)
}

func (c *cluster) stop() {
	if c == nil {
		return
	}
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

// localOnly reports the ids of a node's parent that stay on its node: each
// node has its own.
func localOnly(id string) bool {
	switch id {
	case ModulesID, LogFeedID, LogsID:
		return true
	}
	return false
}

// nodeDir is the main node's pairing directory.
func (a *Application) nodeDir() string {
	if d := a.opts.nodeDir; d != "" {
		return d
	}
	if d := os.Getenv(EnvNodeDir); d != "" {
		return d
	}
	return nodes.DefaultDir
}
