// Package cluster is the contract between the kervi runtime and the code
// that joins a node to the others over NATS (package nodes/nats), which a
// program links in only if it runs on several nodes: the runtime fills a
// Config, and Start, set by nodes/nats when it is imported, does the rest.
package cluster

import (
	"context"
	"log/slog"
	"time"

	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/nodes"
)

// NodeState is what a node knows of a node.
type NodeState struct {
	Name    string
	Online  bool
	Version string
	// Offset is the node's clock minus the main node's, as the node last
	// measured it.
	Offset time.Duration
	// Since is when the node last came online or went offline.
	Since time.Time
}

// Config is what a node needs to join the others.
type Config struct {
	// App names the application; Node is this node, Main the main node.
	App, Node, Main string
	// IsMain: this node is the main node.
	IsMain bool
	// Join is this node's join file (nil on the main node).
	Join *nodes.Join
	// NodeDir is the main node's pairing directory.
	NodeDir string
	// Listen and LeafListen are where the main node's server listens for
	// nodes and leaf hubs ("" nowhere); Hosts are more names for its
	// certificate. SiteListen is where a leaf hub's server listens for its
	// site's members.
	Listen, LeafListen, SiteListen string
	Hosts                          []string
	// NATSURLs and Creds name an existing NATS to join instead.
	NATSURLs []string
	Creds    string
	// Heartbeat and OfflineAfter: how often a node beats, and after how
	// long without a beat another is offline (zero: the defaults).
	Heartbeat, OfflineAfter time.Duration
	// Now is the node's clock (nil: time.Now).
	Now func() time.Time
	// Version is this program's version.
	Version string
	// LocalOnly reports the ids that stay on their node.
	LocalOnly func(id string) bool
	// Hub is the node's hub; Logger its log.
	Hub    plumb.Hub
	Logger *slog.Logger
	// OnNode is told of each change of a node's state; it must not block.
	OnNode func(NodeState)
}

// Cluster is a node joined to the others.
type Cluster interface {
	// Leave tells the others this node stops, before its modules do.
	Leave()
	// Stop closes the link, and the server if the node runs one.
	Stop()
}

// Start joins a node to the others. It is nil unless package nodes/nats
// is linked into the program.
var Start func(ctx context.Context, cfg Config) (Cluster, error)
