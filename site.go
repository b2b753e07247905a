package kervi

// A site with several machines behind one uplink (a shed with three Pis
// behind a flaky Wi-Fi link) has one leaf hub: a node paired with
// kervi-node add-leaf, whose join file carries the site's members and a
// server certificate. Its parent embeds a NATS server that dials the main
// node's leaf listener (WithNATSLeafListen) with the hub's key and serves
// the site's other nodes, whose join files name the hub's URL. The site's
// nodes keep talking to each other while the uplink is down; only the
// leaf connection crosses it.

// EnvSiteListen is where a leaf hub's NATS server listens for the site's
// other nodes (WithNATSLeafSite).
const EnvSiteListen = "KERVI_SITE_LISTEN"

// DefaultSiteListen is where a leaf hub's NATS server listens by default.
const DefaultSiteListen = "0.0.0.0:4222"

// WithNATSLeafSite sets where this node's NATS server listens for the
// site's other nodes when its join file makes it a site's leaf hub
// (default $KERVI_SITE_LISTEN, else DefaultSiteListen). It speaks TLS
// only, with the certificate of the join file. An empty address listens
// nowhere. Nodes whose join file is not a leaf hub's ignore it.
func WithNATSLeafSite(listen string) Option {
	return func(o *options) error { o.siteListen = &listen; return nil }
}
