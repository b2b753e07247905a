package nodes

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/nats-io/nkeys"
)

// Join is what a node needs to dial the main node: the content of a join
// file, in JSON with the keys app, node, urls, seed and ca.
type Join struct {
	// App is the application's name (see [ValidName]).
	App string `json:"app"`
	// Node is this node's name (see [ValidName]).
	Node string `json:"node"`
	// URLs are main's addresses, nats:// or tls://, tried in turn.
	URLs []string `json:"urls"`
	// Seed is the node's NKEY user seed ("SU..."). It never leaves the node.
	Seed string `json:"seed"`
	// CA is the PEM certificate of main's CA, pinned: main's server
	// certificate must be signed by it. It may be empty only when every URL
	// is a loopback address.
	CA string `json:"ca,omitempty"`
	// Leaf, for a site's leaf hub only ([Dir.AddLeaf]), is what the hub's
	// NATS server needs to serve the site's other nodes.
	Leaf *Leaf `json:"leaf,omitempty"`
}

// LoadJoin reads and checks the join file at path. On unix it refuses a file
// that group or others may read, since the file holds the node's seed.
// Errors name the file and the field at fault.
func LoadJoin(path string) (*Join, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("join file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("join file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("join file %s: mode %v lets group or others read the node's seed: chmod 600 %s",
			path, fi.Mode().Perm(), path)
	}
	var j Join
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("join file %s: %w", path, err)
	}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("join file %s: %w", path, err)
	}
	return &j, nil
}

// Validate checks every field of j; the error names the first field at fault.
func (j *Join) Validate() error {
	if err := ValidName(j.App); err != nil {
		return fmt.Errorf("field app: %w", err)
	}
	if err := ValidName(j.Node); err != nil {
		return fmt.Errorf("field node: %w", err)
	}
	if len(j.URLs) == 0 {
		return errors.New("field urls: no URL of main")
	}
	allLoopback := true
	for _, u := range j.URLs {
		loop, err := checkURL(u)
		if err != nil {
			return fmt.Errorf("field urls: %w", err)
		}
		allLoopback = allLoopback && loop
	}
	if _, err := j.PublicKey(); err != nil {
		return fmt.Errorf("field seed: %w", err)
	}
	if j.CA == "" {
		if !allLoopback {
			return errors.New("field ca: empty, but a URL is not a loopback address: main's CA must be pinned")
		}
		if j.Leaf != nil {
			return errors.New("field ca: empty, but a leaf hub's certificate must be signed by main's CA")
		}
		return nil
	}
	ca, err := parseCertPEM([]byte(j.CA))
	if err != nil {
		return fmt.Errorf("field ca: %w", err)
	}
	if j.Leaf != nil {
		if err := j.Leaf.validate(j.Node, ca); err != nil {
			return fmt.Errorf("field leaf: %w", err)
		}
	}
	return nil
}

// CAPool returns a pool holding j's pinned CA, or nil when j has none.
func (j *Join) CAPool() (*x509.CertPool, error) {
	if j.CA == "" {
		return nil, nil
	}
	c, err := parseCertPEM([]byte(j.CA))
	if err != nil {
		return nil, fmt.Errorf("join of node %s: field ca: %w", j.Node, err)
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p, nil
}

// PublicKey returns the public NKEY ("U...") of j's seed, which must be a
// user seed.
func (j *Join) PublicKey() (string, error) {
	if j.Seed == "" {
		return "", errors.New("no seed")
	}
	prefix, _, err := nkeys.DecodeSeed([]byte(j.Seed))
	if err != nil {
		return "", fmt.Errorf("seed of node %s: %w", j.Node, err)
	}
	if prefix != nkeys.PrefixByteUser {
		return "", fmt.Errorf("seed of node %s is a %v seed, not a user seed (SU...)", j.Node, prefix)
	}
	kp, err := nkeys.FromSeed([]byte(j.Seed))
	if err != nil {
		return "", fmt.Errorf("seed of node %s: %w", j.Node, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// Save writes j to path, readable by its owner only (0600). It writes a
// temporary file in the same directory and renames it, so a reader never
// sees half a file.
func (j *Join) Save(path string) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("join of node %s: %w", j.Node, err)
	}
	if err := writeFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("join of node %s: %w", j.Node, err)
	}
	return nil
}

// checkURL checks that u is a nats:// or tls:// URL with a host and port,
// and reports whether its host is a loopback address.
func checkURL(u string) (loopback bool, err error) {
	p, err := url.Parse(u)
	if err != nil {
		return false, fmt.Errorf("URL %q: %w", u, err)
	}
	if p.Scheme != "nats" && p.Scheme != "tls" {
		return false, fmt.Errorf("URL %q: scheme %q, want nats:// or tls://", u, p.Scheme)
	}
	if p.Hostname() == "" {
		return false, fmt.Errorf("URL %q: no host", u)
	}
	return IsLoopback(p.Hostname()), nil
}

// IsLoopback reports whether host (a name or an address, without port) is
// "localhost" or a loopback IP address.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate: %w", err)
	}
	return c, nil
}

// writeFileAtomic writes data to a temporary file next to path with mode
// perm, syncs it and renames it to path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
