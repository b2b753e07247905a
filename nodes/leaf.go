package nodes

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/nats-io/nkeys"
)

// Leaf is the part of a join file that makes its node a site's leaf hub:
// the node's parent runs a NATS server that dials main's leaf listener with
// the node's key (one connection over the site's uplink) and serves the
// site's other nodes, its members, on the site's network. In JSON, the
// join file's "leaf" object with the keys members, cert and key.
type Leaf struct {
	// Members are the nodes that join through the hub, with their public
	// keys: the hub's server lets them in.
	Members []Member `json:"members"`
	// Cert is the PEM certificate of the hub's server, signed by main's
	// CA, which the members' join files pin.
	Cert string `json:"cert"`
	// Key is the certificate's PEM private key. Like the seed, it never
	// leaves the hub.
	Key string `json:"key"`
}

// Member is a node that joins a site's leaf hub.
type Member struct {
	// Name is the member's node name.
	Name string `json:"name"`
	// PublicKey is the member's public NKEY ("U...").
	PublicKey string `json:"public_key"`
}

// validate checks l, the leaf data of node hub whose join pins ca.
func (l *Leaf) validate(hub string, ca *x509.Certificate) error {
	if len(l.Members) == 0 {
		return errors.New("members: none (a leaf hub serves at least one other node)")
	}
	seen := map[string]bool{}
	for i, m := range l.Members {
		if err := ValidName(m.Name); err != nil {
			return fmt.Errorf("members[%d]: name: %w", i, err)
		}
		if m.Name == hub || m.Name == MainNode {
			return fmt.Errorf("members[%d]: node %s cannot be a member of leaf hub %s", i, m.Name, hub)
		}
		if seen[m.Name] {
			return fmt.Errorf("members[%d]: node %s is listed twice", i, m.Name)
		}
		seen[m.Name] = true
		if !nkeys.IsValidPublicUserKey(m.PublicKey) {
			return fmt.Errorf("members[%d]: node %s: public_key %q is not a user NKEY", i, m.Name, m.PublicKey)
		}
	}
	cert, err := parseCertPEM([]byte(l.Cert))
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("cert: not signed by the pinned CA (field ca): %w", err)
	}
	key, err := parseKeyPEM([]byte(l.Key))
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("key: it does not belong to the certificate in field cert")
	}
	return nil
}

// TLS returns the TLS (1.2 or later) configuration of the hub's server.
func (l *Leaf) TLS() (*tls.Config, error) {
	cert, err := tls.X509KeyPair([]byte(l.Cert), []byte(l.Key))
	if err != nil {
		return nil, fmt.Errorf("leaf certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// AddLeaf pairs node as a site's leaf hub, through which members, nodes
// added already (whose join files name the hub's URL on the site's
// network, such as tls://shed.local:4222), join. Like [Dir.Add] it makes
// the node's key and returns its join, which names urls (main's leaf
// listener) and carries a server certificate signed by the CA for hosts
// (default "<node>.local"), plus localhost, 127.0.0.1 and ::1. The
// directory records the members on the hub, so main's server gives the
// hub's user their permissions too. A member belongs to one hub at most.
func (d *Dir) AddLeaf(node string, members []string, urls []string, hosts []string) (*Join, error) {
	if err := ValidName(node); err != nil {
		return nil, fmt.Errorf("adding leaf hub: %w", err)
	}
	if node == MainNode {
		return nil, fmt.Errorf("adding leaf hub %s: the main node cannot be a leaf", node)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("adding leaf hub %s: no member", node)
	}
	if len(hosts) == 0 {
		hosts = []string{node + ".local"}
	}
	var names []string
	var ips []net.IP
	for _, h := range append(slices.Clone(hosts), "localhost", "127.0.0.1", "::1") {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	seed, pub, err := newUserSeed()
	if err != nil {
		return nil, fmt.Errorf("adding leaf hub %s: %w", node, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.ContainsFunc(d.nodes, func(n Node) bool { return n.Name == node }) {
		return nil, fmt.Errorf("adding leaf hub %s: it exists already (forget it first to give it a new key)", node)
	}
	leaf := &Leaf{}
	for _, m := range members {
		if m == node {
			return nil, fmt.Errorf("adding leaf hub %s: it cannot be its own member", node)
		}
		i := slices.IndexFunc(d.nodes, func(n Node) bool { return n.Name == m })
		if i < 0 {
			return nil, fmt.Errorf("adding leaf hub %s: member %q is not paired: add it first (its URL is the hub's, such as tls://%s:4222)",
				node, m, hosts[0])
		}
		for _, n := range d.nodes {
			if slices.Contains(n.Members, m) {
				return nil, fmt.Errorf("adding leaf hub %s: member %s is a member of leaf hub %s already", node, m, n.Name)
			}
		}
		if slices.ContainsFunc(leaf.Members, func(x Member) bool { return x.Name == m }) {
			return nil, fmt.Errorf("adding leaf hub %s: member %s is listed twice", node, m)
		}
		leaf.Members = append(leaf.Members, Member{Name: m, PublicKey: d.nodes[i].PublicKey})
	}
	certPEM, keyPEM, err := d.signServerCert("kervi "+d.app+" leaf "+node, names, ips)
	if err != nil {
		return nil, fmt.Errorf("adding leaf hub %s: certificate: %w", node, err)
	}
	leaf.Cert, leaf.Key = string(certPEM), string(keyPEM)
	j := &Join{App: d.app, Node: node, URLs: slices.Clone(urls), Seed: seed, CA: string(d.caPEM), Leaf: leaf}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("adding leaf hub %s: %w", node, err)
	}
	rec := Node{Name: node, PublicKey: pub, Added: timeNow(), Members: slices.Clone(members)}
	d.nodes = append(d.nodes, rec)
	if err := d.saveNodes(); err != nil {
		d.nodes = d.nodes[:len(d.nodes)-1]
		return nil, fmt.Errorf("adding leaf hub %s: %w", node, err)
	}
	return j, nil
}
