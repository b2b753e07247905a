package kervi

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kervi/kervi-go/internal/cluster"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/nodes"
	"github.com/kervi/kervi-go/values"
)

// An application can run on several machines, its nodes: every machine
// runs the same program, with its node name, and runs the modules
// WithNodes maps to it. Each node's parent process keeps its own hub and
// supervises its own modules; the nodes join over NATS, which the main
// node embeds (or an existing NATS, WithNATS). Links, calls, sets, reads,
// pattern subscriptions and the catalogue work across nodes by id, with
// the same errors and the same order per id as on one machine. See
// docs/nodes.md for the setup and docs/protocol.md ("Nodes") for the
// wire.

// MainNode is the name of the main node: the one that runs the modules no
// other node is given, the application's main and exit hooks, and (by
// default) the NATS server the other nodes join.
const MainNode = nodes.MainNode

// Environment variables that configure a node, where options do not.
const (
	// EnvNode names this machine's node (WithNode).
	EnvNode = "KERVI_NODE"
	// EnvJoin is the path of this node's join file (WithJoinFile).
	EnvJoin = "KERVI_JOIN"
	// EnvNodeDir is the main node's pairing directory (WithNodeDir).
	EnvNodeDir = "KERVI_NODE_DIR"
	// EnvNATSListen is where the main node's NATS server listens
	// (WithNATSListen).
	EnvNATSListen = "KERVI_NATS_LISTEN"
)

// DefaultNATSListen is where the main node's embedded NATS server listens
// for the other nodes by default.
const DefaultNATSListen = "0.0.0.0:4222"

// NodeStateID returns the id of the sensor the main node announces for a
// node, whose values (NodeValueID) tell its state.
func NodeStateID(node string) string { return "kervi.node." + node }

// The values of a node's state (NodeValueID).
const (
	// NodeOnline is a bool: the main node hears from the node.
	NodeOnline = "online"
	// NodeClockOffset is a number, in seconds: the node's clock minus the
	// main node's, as the node measured it. Beyond a second it is warned
	// about.
	NodeClockOffset = "clock_offset"
	// NodeVersion is a string: the node's program version.
	NodeVersion = "version"
)

// NodeValueID returns the id of one value of a node's state, such as
// NodeValueID("pi1", NodeOnline), "kervi.node.pi1.online".
func NodeValueID(node, value string) string { return NodeStateID(node) + "." + value }

// WithNodes spreads the application over several machines: nodes maps a
// node's name to the modules it runs. Modules no node is given run on the
// main node (MainNode). Names are 1 to 64 letters, digits, _ and -; the
// application's name (WithName) must be one too.
func WithNodes(nodes map[string][]string) Option {
	return func(o *options) error {
		if len(nodes) == 0 {
			return errors.New("WithNodes: no node")
		}
		m := make(map[string][]string, len(nodes))
		for n, mods := range nodes {
			m[n] = slices.Clone(mods)
		}
		o.nodes = m
		return nil
	}
}

// WithNode names this machine's node. Default: $KERVI_NODE, else the node
// of the join file, else MainNode.
func WithNode(name string) Option {
	return func(o *options) error { o.node = name; return nil }
}

// WithJoinFile gives a node (not the main one) the join file the main
// node's pairing made for it (go run github.com/kervi/kervi-go/nodes/cmd/kervi-node
// add): the URLs of the main node, the node's key and the main node's CA.
// Default: $KERVI_JOIN.
func WithJoinFile(path string) Option {
	return func(o *options) error { o.joinFile = path; return nil }
}

// WithNodeDir sets the main node's pairing directory, which holds its CA,
// its key and the public keys of the nodes it lets in. Default:
// $KERVI_NODE_DIR, else "kervi-nodes" in the working directory.
func WithNodeDir(path string) Option {
	return func(o *options) error { o.nodeDir = path; return nil }
}

// WithNATSListen sets where the main node's embedded NATS server listens
// for the other nodes (default $KERVI_NATS_LISTEN, else
// DefaultNATSListen). It speaks TLS only, loopback included, with a
// certificate of the pairing directory's CA. An empty address listens
// nowhere (every node then joins through a leaf or an external NATS).
func WithNATSListen(addr string) Option {
	return func(o *options) error { o.natsListen = &addr; return nil }
}

// WithNATSHosts adds names and addresses the other nodes use to reach the
// main node to its NATS server's certificate, beyond this machine's
// addresses, its host name and host name ".local", which it always has.
func WithNATSHosts(hosts ...string) Option {
	return func(o *options) error { o.natsHosts = append(o.natsHosts, hosts...); return nil }
}

// WithNATSLeafListen makes the main node's NATS server accept leaf nodes
// at addr: a NATS server at a site with several machines, which joins with
// a node's key and carries the site's traffic over one link.
func WithNATSLeafListen(addr string) Option {
	return func(o *options) error { o.natsLeaf = addr; return nil }
}

// WithNATS joins an existing NATS instead of embedding one in the main
// node: urls are its addresses and creds, if not empty, a .creds file
// (operator mode). Every node of the application then uses it.
func WithNATS(urls []string, creds string) Option {
	return func(o *options) error {
		if len(urls) == 0 {
			return errors.New("WithNATS: no URL")
		}
		o.natsURLs, o.natsCreds = slices.Clone(urls), creds
		return nil
	}
}

// WithNodeHeartbeat sets how often a node tells the others it is alive
// (default 1 s), and after how long without a word one is taken offline:
// its values are stale and calls to it fail with ErrOwnerGone (default
// 5 s). NATS's own pings notice a dead link within 15 s.
func WithNodeHeartbeat(interval, offlineAfter time.Duration) Option {
	return func(o *options) error {
		if interval <= 0 || offlineAfter <= interval {
			return fmt.Errorf("WithNodeHeartbeat: interval %v must be positive and below offlineAfter %v", interval, offlineAfter)
		}
		o.nodeBeat, o.nodeOffline = interval, offlineAfter
		return nil
	}
}

// WithNodeClock replaces the clock the node's bridge tells the others
// (default time.Now), for tests and simulations of a node whose clock is
// off.
func WithNodeClock(now func() time.Time) Option {
	return func(o *options) error { o.nodeClock = now; return nil }
}

// nodeSetup is what NewApplication worked out about nodes.
type nodeSetup struct {
	on       bool
	name     string   // this node
	all      []string // every node, sorted, main first
	join     *nodes.Join
	joinPath string
}

// isMain reports whether this process belongs to the main node.
func (a *Application) isMain() bool { return !a.nodes.on || a.nodes.name == MainNode }

// Node returns this machine's node name: MainNode in an application on
// one machine.
func (a *Application) Node() string {
	if !a.nodes.on {
		return MainNode
	}
	return a.nodes.name
}

// setupNodes works out this machine's node and its modules.
func (a *Application) setupNodes(modules []Module) ([]Module, error) {
	o := &a.opts
	ns := nodeSetup{name: o.node, joinPath: o.joinFile}
	if ns.name == "" {
		ns.name = os.Getenv(EnvNode)
	}
	if ns.joinPath == "" {
		ns.joinPath = os.Getenv(EnvJoin)
	}
	if o.nodes == nil {
		if ns.name != "" && ns.name != MainNode {
			return nil, fmt.Errorf("node %q: the application has no nodes (kervi.WithNodes)", ns.name)
		}
		if ns.joinPath != "" {
			return nil, fmt.Errorf("join file %s: the application has no nodes (kervi.WithNodes)", ns.joinPath)
		}
		a.nodes = ns
		return modules, nil
	}
	ns.on = true
	if cluster.Start == nil && !IsModuleProcess() {
		return nil, errNotLinked
	}
	if !IsModuleProcess() && ns.joinPath != "" {
		j, err := nodes.LoadJoin(ns.joinPath)
		if err != nil {
			return nil, err
		}
		ns.join = j
		if ns.name == "" {
			ns.name = j.Node
		}
	}
	if ns.name == "" {
		ns.name = MainNode
	}
	if err := nodes.ValidName(o.name); err != nil {
		return nil, fmt.Errorf("application name (WithName) on nodes: %w", err)
	}
	known := map[string]bool{}
	for _, m := range modules {
		known[m.Name] = true
	}
	of := map[string]string{} // module → node
	set := map[string]bool{MainNode: true}
	for n, mods := range o.nodes {
		if err := nodes.ValidName(n); err != nil {
			return nil, fmt.Errorf("WithNodes: node: %w", err)
		}
		set[n] = true
		for _, m := range mods {
			if !known[m] {
				return nil, fmt.Errorf("WithNodes: node %q runs module %q, which is not in the application's modules", n, m)
			}
			if other, ok := of[m]; ok && other != n {
				return nil, fmt.Errorf("WithNodes: module %q is given to nodes %q and %q", m, other, n)
			}
			of[m] = n
		}
	}
	if !set[ns.name] {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("node %q is not one of the application's nodes (%s)", ns.name, strings.Join(names, ", "))
	}
	if ns.join != nil {
		if ns.join.App != o.name {
			return nil, fmt.Errorf("join file %s: it is for application %q, this is %q", ns.joinPath, ns.join.App, o.name)
		}
		if ns.join.Node != ns.name {
			return nil, fmt.Errorf("join file %s: it is for node %q, this is node %q", ns.joinPath, ns.join.Node, ns.name)
		}
	}
	for n := range set {
		if n != MainNode {
			ns.all = append(ns.all, n)
		}
	}
	sort.Strings(ns.all)
	ns.all = append([]string{MainNode}, ns.all...)
	var mine []Module
	for _, m := range modules {
		if n := of[m.Name]; n == ns.name || n == "" && ns.name == MainNode {
			mine = append(mine, m)
		}
	}
	a.nodes = ns
	return mine, nil
}

// version is this program's version, as nodes show it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// nodeValues are the values of a node's state, on the main node.
type nodeValues struct {
	online  *values.Bool
	offset  *values.Number
	version *values.String
}

// registerNodeValues announces, on the main node, the state of every node.
func (a *Application) registerNodeValues(b *ipc.Bus) map[string]*nodeValues {
	if !a.nodes.on || !a.isMain() {
		return nil
	}
	out := map[string]*nodeValues{}
	for _, n := range a.nodes.all {
		parent := NodeStateID(n)
		if err := b.Announce(ipc.Description{ID: parent, Kind: ipc.KindSensor, Name: "Node " + n}); err != nil {
			continue
		}
		p := values.Parent(parent)
		nv := &nodeValues{
			online: values.NewBool(b, NodeValueID(n, NodeOnline), n+" online", values.Output(), p, values.Initial(n == MainNode)),
			offset: values.NewNumber(b, NodeValueID(n, NodeClockOffset), n+" clock offset", values.Output(), p,
				values.Unit("s"), values.Initial(0.0)),
			version: values.NewString(b, NodeValueID(n, NodeVersion), n+" version", values.Output(), p, values.Initial("")),
		}
		if n == MainNode {
			_ = nv.version.Set(version())
		}
		out[n] = nv
	}
	return out
}
