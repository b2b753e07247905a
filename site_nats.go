//go:build !kervi_nonodes

package kervi

import (
	"os"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kervi/kervi-go/internal/natsnode"
	"github.com/kervi/kervi-go/nodes"
)

// startSite starts the NATS server of a site's leaf hub, node j.Node: it
// dials main's leaf listener at j.URLs with the node's key, pinning main's
// CA, and lets in the hub itself (in-process) and the site's members, each
// with its own permissions.
func (a *Application) startSite(j *nodes.Join) (*server.Server, natsnode.ServerConfig, error) {
	listen := os.Getenv(EnvSiteListen)
	if a.opts.siteListen != nil {
		listen = *a.opts.siteListen
	} else if listen == "" {
		listen = DefaultSiteListen
	}
	sc := natsnode.ServerConfig{App: a.opts.name, Listen: listen, Logger: a.log.With("part", "nats-site")}
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
