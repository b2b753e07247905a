package kervi

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/cluster"
	"github.com/kervi/kervi-go/nodes"
)

// errNotLinked says why an application on several nodes cannot run.
var errNotLinked = errors.New(`WithNodes: this program does not link NATS, which nodes need: ` +
	`add import _ "github.com/kervi/kervi-go/nodes/nats" to it`)

// clusterRun is a running node's link to the others (cluster.Start, in
// package nodes/nats), with what the main node keeps of the nodes' states.
type clusterRun struct {
	c cluster.Cluster
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

// startCluster joins this node to the others (nothing on one machine).
func (a *Application) startCluster(ctx context.Context) (*clusterRun, error) {
	if !a.nodes.on {
		return nil, nil
	}
	if cluster.Start == nil {
		return nil, errNotLinked
	}
	o := a.opts
	listen := os.Getenv(EnvNATSListen)
	if o.natsListen != nil {
		listen = *o.natsListen
	} else if listen == "" {
		listen = DefaultNATSListen
	}
	site := os.Getenv(EnvSiteListen)
	if o.siteListen != nil {
		site = *o.siteListen
	} else if site == "" {
		site = DefaultSiteListen
	}
	c := &clusterRun{}
	cl, err := cluster.Start(ctx, cluster.Config{
		App: o.name, Node: a.nodes.name, Main: MainNode, IsMain: a.isMain(), Join: a.nodes.join,
		NodeDir: a.nodeDir(), Listen: listen, LeafListen: o.natsLeaf, SiteListen: site, Hosts: o.natsHosts,
		NATSURLs: o.natsURLs, Creds: o.natsCreds, Heartbeat: o.nodeBeat, OfflineAfter: o.nodeOffline,
		Now: o.nodeClock, Version: version(), LocalOnly: localOnly, Hub: a.hub, Logger: a.log,
		OnNode: func(st cluster.NodeState) { a.nodeState(c, st) },
	})
	if err != nil {
		return nil, err
	}
	c.c = cl
	return c, nil
}

// leave tells the other nodes this node stops, before its modules stop:
// the others keep its ids, stale, until it is back, rather than seeing
// them retired one by one.
func (c *clusterRun) leave() {
	if c != nil {
		c.c.Leave()
	}
}

// stop closes the link, and the server if this node runs one.
func (c *clusterRun) stop() {
	if c != nil {
		c.c.Stop()
	}
}

// nodeState publishes a node's state on its values (main only).
func (a *Application) nodeState(c *clusterRun, st cluster.NodeState) {
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
