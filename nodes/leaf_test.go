package nodes

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// addSite pairs pi2 and pi3 with the shed's URL and the shed as their hub.
func addSite(t *testing.T, d *Dir, hosts ...string) *Join {
	t.Helper()
	for _, n := range []string{"pi2", "pi3"} {
		if _, err := d.Add(n, []string{"tls://shed.local:4222"}); err != nil {
			t.Fatal(err)
		}
	}
	j, err := d.AddLeaf("shed", []string{"pi2", "pi3"}, []string{"tls://main.example:7422"}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestAddLeaf(t *testing.T) {
	d, path := openTestDir(t)
	j := addSite(t, d)
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	if j.Node != "shed" || j.Leaf == nil || len(j.Leaf.Members) != 2 || j.Leaf.Members[0].Name != "pi2" {
		t.Fatalf("leaf join %+v", j)
	}
	recs := d.Nodes()
	pi2 := recs[slices.IndexFunc(recs, func(n Node) bool { return n.Name == "pi2" })]
	if j.Leaf.Members[0].PublicKey != pi2.PublicKey {
		t.Errorf("member pi2's key %s, the directory has %s", j.Leaf.Members[0].PublicKey, pi2.PublicKey)
	}
	// The record survives reopening.
	d2, err := OpenDir(path, "app")
	if err != nil {
		t.Fatal(err)
	}
	recs = d2.Nodes()
	shed := recs[slices.IndexFunc(recs, func(n Node) bool { return n.Name == "shed" })]
	if !slices.Equal(shed.Members, []string{"pi2", "pi3"}) {
		t.Errorf("shed's members after reopening: %v", shed.Members)
	}

	// The hub's certificate is for shed.local and loopback, signed by the CA
	// the members pin; a member verifies it.
	conf, err := j.Leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"shed.local", "localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: d.CAPool()}); err != nil {
			t.Errorf("the hub's certificate for %s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "main.example", Roots: d.CAPool()}); err == nil {
		t.Error("the hub's certificate verifies for main.example")
	}
	tlsHandshake(t, conf, d.CAPool(), "shed.local")
}

// tlsHandshake serves conf on loopback and dials it as name, pinning pool.
func tlsHandshake(t *testing.T, conf *tls.Config, pool *x509.CertPool, name string) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to the hub as %s: %v", name, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAddLeafHosts(t *testing.T) {
	d, _ := openTestDir(t)
	j := addSite(t, d, "greenhouse-shed", "192.168.7.3:4222")
	conf, err := j.Leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	if !slices.Contains(leaf.DNSNames, "greenhouse-shed") || slices.Contains(leaf.DNSNames, "shed.local") ||
		!slices.ContainsFunc(leaf.IPAddresses, net.ParseIP("192.168.7.3").Equal) {
		t.Errorf("certificate names %v, addresses %v", leaf.DNSNames, leaf.IPAddresses)
	}
}

func TestAddLeafRefuses(t *testing.T) {
	d, _ := openTestDir(t)
	if _, err := d.Add("pi2", []string{"tls://shed.local:4222"}); err != nil {
		t.Fatal(err)
	}
	main := []string{"tls://main:7422"}
	for _, c := range []struct {
		node    string
		members []string
		want    string
	}{
		{"shed", []string{"pi9"}, `member "pi9" is not paired`},
		{"shed", nil, "no member"},
		{"shed", []string{"shed"}, "its own member"},
		{"shed", []string{"pi2", "pi2"}, "listed twice"},
		{"main", []string{"pi2"}, "main node cannot be a leaf"},
		{"pi2", []string{"pi2"}, "exists already"},
		{"a.b", []string{"pi2"}, "adding leaf hub"},
	} {
		if _, err := d.AddLeaf(c.node, c.members, main, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddLeaf(%s, %v): %v, want %q", c.node, c.members, err, c.want)
		}
	}
	if _, err := d.AddLeaf("shed", []string{"pi2"}, main, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddLeaf("barn", []string{"pi2"}, main, nil); err == nil || !strings.Contains(err.Error(), "member of leaf hub shed") {
		t.Errorf("a member of two hubs: %v", err)
	}
	if n := len(d.Nodes()); n != 2 {
		t.Errorf("%d nodes after refusals, want pi2 and shed", n)
	}
}

func TestForgetUpdatesLeaf(t *testing.T) {
	d, path := openTestDir(t)
	addSite(t, d)
	if err := d.Forget("pi3"); err != nil {
		t.Fatal(err)
	}
	d2, err := OpenDir(path, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range d2.Nodes() {
		if n.Name == "shed" && !slices.Equal(n.Members, []string{"pi2"}) {
			t.Errorf("shed's members after forgetting pi3: %v", n.Members)
		}
	}
	if err := d.Forget("shed"); err != nil {
		t.Fatal(err)
	}
	// pi2 stays paired and may join another hub.
	if _, err := d.AddLeaf("barn", []string{"pi2"}, []string{"tls://main:7422"}, nil); err != nil {
		t.Errorf("pi2 to another hub after forgetting shed: %v", err)
	}
}

func TestLoadJoinChecksLeaf(t *testing.T) {
	d, _ := openTestDir(t)
	good := addSite(t, d)
	other, _ := openTestDir(t)
	foreign := addSite(t, other)
	cases := []struct {
		name, field string
		edit        func(j *Join)
	}{
		{"no members", "field leaf: members: none", func(j *Join) { j.Leaf.Members = nil }},
		{"bad member", "field leaf: members[0]: name", func(j *Join) { j.Leaf.Members[0].Name = "a b" }},
		{"member is hub", "field leaf: members[0]: node shed cannot", func(j *Join) { j.Leaf.Members[0].Name = "shed" }},
		{"member twice", "field leaf: members[1]: node pi2 is listed twice", func(j *Join) { j.Leaf.Members[1].Name = "pi2" }},
		{"bad key", "field leaf: members[1]: node pi3: public_key", func(j *Join) { j.Leaf.Members[1].PublicKey = "UNOPE" }},
		{"bad cert", "field leaf: cert", func(j *Join) { j.Leaf.Cert = "nope" }},
		{"other CA", "field leaf: cert: not signed by the pinned CA", func(j *Join) { j.Leaf.Cert = foreign.Leaf.Cert }},
		{"bad key pem", "field leaf: key", func(j *Join) { j.Leaf.Key = "nope" }},
		{"other key", "field leaf: key: it does not belong", func(j *Join) { j.Leaf.Key = foreign.Leaf.Key }},
		{"no ca", "field ca", func(j *Join) { j.CA = ""; j.URLs = []string{"nats://127.0.0.1:7422"} }},
	}
	dir := t.TempDir()
	for _, c := range cases {
		b, _ := json.Marshal(good)
		var j Join
		json.Unmarshal(b, &j) // a deep copy
		c.edit(&j)
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".join")
		b, _ = json.Marshal(j)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadJoin(p)
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming %s and %s", c.name, err, p, c.field)
		}
	}
	p := filepath.Join(dir, "good.join")
	if err := good.Save(p); err != nil {
		t.Fatal(err)
	}
	j, err := LoadJoin(p)
	if err != nil || j.Leaf == nil || len(j.Leaf.Members) != 2 {
		t.Fatalf("round trip: %+v, %v", j, err)
	}
}
