package nodes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nkeys"
)

// DefaultDir is the pairing directory's default path.
const DefaultDir = "kervi-nodes"

// Files of a pairing directory.
const (
	caFile         = "ca.pem"
	caKeyFile      = "ca-key.pem"
	mainSeedFile   = "main.seed"
	nodesFile      = "nodes.json"
	serverFile     = "server.pem"
	serverKeyFile  = "server-key.pem"
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 825 * 24 * time.Hour
	// serverRenewal is how close to its expiry a server certificate is
	// replaced rather than reused.
	serverRenewal = 30 * 24 * time.Hour
)

// Node is a node allowed to join the main node.
type Node struct {
	// Name is the node's name.
	Name string `json:"name"`
	// PublicKey is the node's public NKEY ("U...").
	PublicKey string `json:"public_key"`
	// Added is when the node was paired.
	Added time.Time `json:"added"`
	// Members, for a site's leaf hub ([Dir.AddLeaf]), are the nodes that
	// join through it; main's server gives the hub's user their
	// permissions too.
	Members []string `json:"members,omitempty"`
}

// nodesDoc is the content of nodes.json.
type nodesDoc struct {
	App   string `json:"app"`
	Nodes []Node `json:"nodes"`
}

// Dir is the main node's pairing directory: its CA (ca.pem, ca-key.pem),
// its own NKEY seed (main.seed), the nodes allowed in (nodes.json, which
// also records the application's name and the members of each site's leaf
// hub) and its server certificate
// (server.pem, server-key.pem). Secrets are written 0600 in a 0700
// directory. A Dir is safe for concurrent use by one process; two processes
// must not change the same directory at once.
type Dir struct {
	path string
	app  string

	mu       sync.Mutex
	caCert   *x509.Certificate
	caPEM    []byte
	caKey    *ecdsa.PrivateKey
	mainSeed string
	nodes    []Node
}

// OpenDir opens the pairing directory at path for application app, creating
// the directory (0700) and whatever is missing in it: a CA (ECDSA P-256,
// valid 10 years), main's NKEY seed and an empty node list. It refuses a
// directory made for another application.
func OpenDir(path, app string) (*Dir, error) {
	if err := ValidName(app); err != nil {
		return nil, fmt.Errorf("pairing directory %s: application: %w", path, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("pairing directory: %w", err)
	}
	d := &Dir{path: path, app: app}
	if err := d.loadNodes(); err != nil {
		return nil, err
	}
	if err := d.loadCA(); err != nil {
		return nil, err
	}
	if err := d.loadMainSeed(); err != nil {
		return nil, err
	}
	return d, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// App returns the application the directory is for.
func (d *Dir) App() string { return d.app }

func (d *Dir) file(name string) string { return filepath.Join(d.path, name) }

func (d *Dir) loadNodes() error {
	p := d.file(nodesFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return d.saveNodes()
	}
	if err != nil {
		return fmt.Errorf("pairing directory: %w", err)
	}
	var doc nodesDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("pairing directory: %s: %w", p, err)
	}
	if doc.App != d.app {
		return fmt.Errorf("pairing directory %s is for application %q, not %q", d.path, doc.App, d.app)
	}
	for i, n := range doc.Nodes {
		if err := ValidName(n.Name); err != nil {
			return fmt.Errorf("pairing directory: %s: node %d: %w", p, i, err)
		}
		if !nkeys.IsValidPublicUserKey(n.PublicKey) {
			return fmt.Errorf("pairing directory: %s: node %s: public_key %q is not a user NKEY", p, n.Name, n.PublicKey)
		}
		for _, m := range n.Members {
			if err := ValidName(m); err != nil {
				return fmt.Errorf("pairing directory: %s: node %s: members: %w", p, n.Name, err)
			}
		}
	}
	d.nodes = doc.Nodes
	return nil
}

// saveNodes writes nodes.json; d.mu is held or d is not shared yet.
func (d *Dir) saveNodes() error {
	doc := nodesDoc{App: d.app, Nodes: d.nodes}
	if doc.Nodes == nil {
		doc.Nodes = []Node{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("pairing directory %s: %w", d.path, err)
	}
	if err := writeFileAtomic(d.file(nodesFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("pairing directory: %w", err)
	}
	return nil
}

func (d *Dir) loadCA() error {
	certPEM, errC := os.ReadFile(d.file(caFile))
	keyPEM, errK := os.ReadFile(d.file(caKeyFile))
	switch {
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
		return d.makeCA()
	case errC != nil:
		return fmt.Errorf("pairing directory: CA: %w", errC)
	case errK != nil:
		return fmt.Errorf("pairing directory: CA key: %w", errK)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("pairing directory: %s: %w", d.file(caFile), err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return fmt.Errorf("pairing directory: %s: %w", d.file(caKeyFile), err)
	}
	d.caCert, d.caPEM, d.caKey = cert, certPEM, key
	return nil
}

func (d *Dir) makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pairing directory %s: CA key: %w", d.path, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "kervi " + d.app + " CA", Organization: []string{"kervi"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("pairing directory %s: CA: %w", d.path, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("pairing directory %s: CA: %w", d.path, err)
	}
	keyPEM, err := marshalKeyPEM(key)
	if err != nil {
		return fmt.Errorf("pairing directory %s: CA key: %w", d.path, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(d.file(caKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("pairing directory: CA key: %w", err)
	}
	if err := writeFileAtomic(d.file(caFile), certPEM, 0o644); err != nil {
		return fmt.Errorf("pairing directory: CA: %w", err)
	}
	d.caCert, d.caPEM, d.caKey = cert, certPEM, key
	return nil
}

func (d *Dir) loadMainSeed() error {
	p := d.file(mainSeedFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		seed, _, err := newUserSeed()
		if err != nil {
			return fmt.Errorf("pairing directory %s: main's key: %w", d.path, err)
		}
		if err := writeFileAtomic(p, []byte(seed+"\n"), 0o600); err != nil {
			return fmt.Errorf("pairing directory: main's key: %w", err)
		}
		d.mainSeed = seed
		return nil
	}
	if err != nil {
		return fmt.Errorf("pairing directory: main's key: %w", err)
	}
	j := Join{Node: MainNode, Seed: string(trimSpace(b))}
	if _, err := j.PublicKey(); err != nil {
		return fmt.Errorf("pairing directory: %s: %w", p, err)
	}
	d.mainSeed = j.Seed
	return nil
}

// Add pairs a new node: it makes the node's NKEY pair, records the public
// key and returns the node's join, which names urls (main's addresses) and
// pins the CA. Add does not save the join: the caller writes it where the
// node will read it ([Join.Save]). It is an error to add "main" or a node
// that exists.
func (d *Dir) Add(node string, urls []string) (*Join, error) {
	if err := ValidName(node); err != nil {
		return nil, fmt.Errorf("adding a node: %w", err)
	}
	if node == MainNode {
		return nil, fmt.Errorf("adding node %s: the main node is not added, it is the pairing directory's owner", node)
	}
	seed, pub, err := newUserSeed()
	if err != nil {
		return nil, fmt.Errorf("adding node %s: %w", node, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	j := &Join{App: d.app, Node: node, URLs: slices.Clone(urls), Seed: seed, CA: string(d.caPEM)}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("adding node %s: %w", node, err)
	}
	if slices.ContainsFunc(d.nodes, func(n Node) bool { return n.Name == node }) {
		return nil, fmt.Errorf("adding node %s: it exists already (forget it first to give it a new key)", node)
	}
	d.nodes = append(d.nodes, Node{Name: node, PublicKey: pub, Added: timeNow()})
	if err := d.saveNodes(); err != nil {
		d.nodes = d.nodes[:len(d.nodes)-1]
		return nil, fmt.Errorf("adding node %s: %w", node, err)
	}
	return j, nil
}

// Forget removes node from the nodes allowed in. Its join file becomes
// useless once main restarts with the new list. A forgotten member of a
// site leaves its leaf hub's record, but not the hub's join file, which
// still lets it into the site's server, whose leaf carries its calls and
// control requests to every node: pair the hub again without it (forget,
// then [Dir.AddLeaf]) and replace the hub's file. Forgetting a hub leaves
// its members paired, with no hub (add them to another with [Dir.AddLeaf],
// or give them join files of main's URLs).
func (d *Dir) Forget(node string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.nodes, func(n Node) bool { return n.Name == node })
	if i < 0 {
		return fmt.Errorf("forgetting node %q: no such node in %s", node, d.path)
	}
	old := d.nodes
	d.nodes = slices.Delete(slices.Clone(d.nodes), i, i+1)
	for k := range d.nodes {
		if slices.Contains(d.nodes[k].Members, node) {
			d.nodes[k].Members = slices.DeleteFunc(slices.Clone(d.nodes[k].Members), func(m string) bool { return m == node })
		}
	}
	if err := d.saveNodes(); err != nil {
		d.nodes = old
		return fmt.Errorf("forgetting node %s: %w", node, err)
	}
	return nil
}

// Nodes returns the nodes allowed in, in the order they were added, main
// excluded.
func (d *Dir) Nodes() []Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.nodes)
	for i := range out {
		out[i].Members = slices.Clone(out[i].Members)
	}
	return out
}

// MainJoin returns main's own identity: node "main" with its seed and the
// CA, and no URL (main dials its own server in-process).
func (d *Dir) MainJoin() *Join {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Join{App: d.app, Node: MainNode, Seed: d.mainSeed, CA: string(d.caPEM)}
}

// CAPool returns a pool holding the directory's CA, to verify main's
// server certificate.
func (d *Dir) CAPool() *x509.CertPool {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := x509.NewCertPool()
	p.AddCert(d.caCert)
	return p
}

// ServerTLS returns a TLS (1.2 or later) server configuration with a
// certificate signed by the directory's CA for hosts, every address of
// the machine's interfaces, localhost, 127.0.0.1 and ::1. The certificate
// on disk is reused while it covers those names and is more than 30 days
// from expiry; otherwise a new one replaces it.
func (d *Dir) ServerTLS(hosts ...string) (*tls.Config, error) {
	names, ips, err := serverNames(hosts)
	if err != nil {
		return nil, fmt.Errorf("server certificate of %s: %w", d.path, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cert, err := d.loadServerCert(names, ips)
	if err != nil {
		cert, err = d.makeServerCert(names, ips)
		if err != nil {
			return nil, err
		}
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func serverNames(hosts []string) (names []string, ips []net.IP, err error) {
	add := func(h string) {
		if h == "" {
			return
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			return
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	for _, h := range hosts {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
		add(h)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1"} {
		add(h)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, fmt.Errorf("listing the interface addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			add(n.IP.String())
		}
	}
	return names, ips, nil
}

// loadServerCert returns the certificate on disk if it is signed by the CA,
// covers names and ips and is not close to expiry.
func (d *Dir) loadServerCert(names []string, ips []net.IP) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(d.file(serverFile), d.file(serverKeyFile))
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, err
		}
	}
	if time.Until(leaf.NotAfter) < serverRenewal {
		return tls.Certificate{}, errors.New("expires soon")
	}
	if err := leaf.CheckSignatureFrom(d.caCert); err != nil {
		return tls.Certificate{}, err
	}
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return tls.Certificate{}, fmt.Errorf("does not cover %s", n)
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return tls.Certificate{}, fmt.Errorf("does not cover %s", ip)
		}
	}
	return cert, nil
}

func (d *Dir) makeServerCert(names []string, ips []net.IP) (tls.Certificate, error) {
	fail := func(err error) (tls.Certificate, error) {
		return tls.Certificate{}, fmt.Errorf("server certificate of %s: %w", d.path, err)
	}
	certPEM, keyPEM, err := d.signServerCert("kervi "+d.app+" main", names, ips)
	if err != nil {
		return fail(err)
	}
	if err := writeFileAtomic(d.file(serverKeyFile), keyPEM, 0o600); err != nil {
		return fail(err)
	}
	if err := writeFileAtomic(d.file(serverFile), certPEM, 0o644); err != nil {
		return fail(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fail(err)
	}
	return cert, nil
}

// signServerCert makes a new key and a server certificate for names and
// ips signed by the CA, both PEM; d.mu is held.
func (d *Dir) signServerCert(cn string, names []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(serverValidity)
	if notAfter.After(d.caCert.NotAfter) {
		notAfter = d.caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"kervi"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.caCert, &key.PublicKey, d.caKey)
	if err != nil {
		return nil, nil, err
	}
	if keyPEM, err = marshalKeyPEM(key); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func newUserSeed() (seed, pub string, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", "", err
	}
	defer kp.Wipe()
	s, err := kp.Seed()
	if err != nil {
		return "", "", err
	}
	pub, err = kp.PublicKey()
	if err != nil {
		return "", "", err
	}
	return string(s), pub, nil
}

func randomSerial() *big.Int {
	// 128 random bits; crypto/rand.Int does not fail on a working system.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(fmt.Sprintf("nodes: reading random bytes: %v", err))
	}
	return n
}

func marshalKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "EC PRIVATE KEY" {
		return nil, errors.New("no PEM EC PRIVATE KEY block")
	}
	return x509.ParseECPrivateKey(blk.Bytes)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// timeNow is when a node is added, as nodes.json records it.
func timeNow() time.Time { return time.Now().UTC().Truncate(time.Second) }
