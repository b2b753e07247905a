package nodes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

func TestValidName(t *testing.T) {
	for _, s := range []string{"a", "main", "pi-1", "Green_House", strings.Repeat("x", 64)} {
		if err := ValidName(s); err != nil {
			t.Errorf("ValidName(%q): %v", s, err)
		}
	}
	for s, want := range map[string]string{
		"":                      "empty",
		"a.b":                   `'.'`,
		"a b":                   `' '`,
		"a*":                    `'*'`,
		"a>":                    `'>'`,
		"é":                     `'é'`,
		strings.Repeat("x", 65): "65 bytes",
	} {
		err := ValidName(s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidName(%q) = %v, want an error mentioning %s", s, err, want)
		}
	}
}

func openTestDir(t *testing.T) (*Dir, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), DefaultDir)
	d, err := OpenDir(path, "app")
	if err != nil {
		t.Fatal(err)
	}
	return d, path
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestDirCreatesAndReopens(t *testing.T) {
	d, path := openTestDir(t)
	if runtime.GOOS != "windows" {
		for f, want := range map[string]os.FileMode{"": 0o700, caKeyFile: 0o600, mainSeedFile: 0o600, nodesFile: 0o600} {
			if m := mode(t, filepath.Join(path, f)); m != want {
				t.Errorf("%s: mode %v, want %v", f, m, want)
			}
		}
	}
	j, err := d.Add("pi1", []string{"tls://main.local:4222", "tls://10.0.0.2:4222"})
	if err != nil {
		t.Fatal(err)
	}
	if j.App != "app" || j.Node != "pi1" || len(j.URLs) != 2 || !strings.HasPrefix(j.Seed, "SU") || !strings.Contains(j.CA, "BEGIN CERTIFICATE") {
		t.Errorf("join %+v", j)
	}
	pub, err := j.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		t.Fatalf("public key %q: %v", pub, err)
	}
	main := d.MainJoin()
	mainPub, err := main.PublicKey()
	if err != nil || main.Node != MainNode || main.App != "app" || mainPub == pub {
		t.Errorf("main join %+v, public key %q: %v", main, mainPub, err)
	}

	// Reopened: the same CA, main key and nodes.
	d2, err := OpenDir(path, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.Nodes(); len(got) != 1 || got[0].Name != "pi1" || got[0].PublicKey != pub || time.Since(got[0].Added) > time.Minute {
		t.Errorf("nodes after reopening: %+v", got)
	}
	if d2.MainJoin().Seed != main.Seed || d2.MainJoin().CA != main.CA {
		t.Error("main's key or CA changed on reopening")
	}
	if _, err := OpenDir(path, "other"); err == nil || !strings.Contains(err.Error(), `"app"`) {
		t.Errorf("opening app's directory for another app: %v", err)
	}
	if _, err := OpenDir(filepath.Join(t.TempDir(), "x"), "bad.app"); err == nil {
		t.Error("bad application name: no error")
	}
}

func TestDirAddAndForget(t *testing.T) {
	d, _ := openTestDir(t)
	if _, err := d.Add("main", []string{"tls://h:4222"}); err == nil {
		t.Error("adding main: no error")
	}
	if _, err := d.Add("a.b", []string{"tls://h:4222"}); err == nil {
		t.Error("adding a bad name: no error")
	}
	if _, err := d.Add("a", []string{"http://h:4222"}); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("adding with an http URL: %v", err)
	}
	if _, err := d.Add("a", nil); err == nil {
		t.Error("adding without URLs: no error")
	}
	if _, err := d.Add("a", []string{"tls://h:4222"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Add("a", []string{"tls://h:4222"}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("adding a twice: %v", err)
	}
	if _, err := d.Add("b", []string{"nats://127.0.0.1:4222"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Forget("a"); err == nil {
		t.Error("forgetting a twice: no error")
	}
	if got := d.Nodes(); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("nodes %+v", got)
	}
	d2, err := OpenDir(d.Path(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if got := d2.Nodes(); len(got) != 1 || got[0].Name != "b" {
		t.Errorf("nodes on disk %+v", got)
	}
	if _, err := d.Add("a", []string{"tls://h:4222"}); err != nil {
		t.Errorf("adding a forgotten node again: %v", err)
	}
}

func TestJoinSaveLoad(t *testing.T) {
	d, _ := openTestDir(t)
	j, err := d.Add("pi1", []string{"tls://10.0.0.2:4222"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "pi1.join")
	if err := j.Save(p); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && mode(t, p) != 0o600 {
		t.Errorf("join file mode %v", mode(t, p))
	}
	got, err := LoadJoin(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seed != j.Seed || got.CA != j.CA || got.URLs[0] != j.URLs[0] || got.Node != "pi1" || got.App != "app" {
		t.Errorf("loaded %+v, saved %+v", got, j)
	}
	if pool, err := got.CAPool(); err != nil || pool == nil || !pool.Equal(d.CAPool()) {
		t.Errorf("CA pool of the join: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	if runtime.GOOS != "windows" {
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadJoin(p); err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) {
			t.Errorf("group-readable join file: %v", err)
		}
	}
}

func TestLoadJoinNamesTheField(t *testing.T) {
	d, _ := openTestDir(t)
	good, err := d.Add("pi1", []string{"tls://10.0.0.2:4222"})
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	aseed, _ := akp.Seed()
	cases := []struct {
		name, field string
		edit        func(j *Join)
	}{
		{"bad app", "field app", func(j *Join) { j.App = "a.b" }},
		{"bad node", "field node", func(j *Join) { j.Node = "" }},
		{"no urls", "field urls", func(j *Join) { j.URLs = nil }},
		{"bad scheme", "field urls", func(j *Join) { j.URLs = []string{"ws://h:1"} }},
		{"no host", "field urls", func(j *Join) { j.URLs = []string{"nats://:4222"} }},
		{"bad seed", "field seed", func(j *Join) { j.Seed = "SUnope" }},
		{"account seed", "field seed", func(j *Join) { j.Seed = string(aseed) }},
		{"no ca", "field ca", func(j *Join) { j.CA = "" }},
		{"bad ca", "field ca", func(j *Join) { j.CA = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }},
	}
	dir := t.TempDir()
	for _, c := range cases {
		j := *good
		c.edit(&j)
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".join")
		b, _ := json.Marshal(j)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadJoin(p)
		if err == nil || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming %s and %s", c.name, err, p, c.field)
		}
	}
	// No CA is fine when every URL is loopback.
	j := *good
	j.CA, j.URLs = "", []string{"nats://127.0.0.1:4222", "nats://localhost:4222", "nats://[::1]:4222"}
	if err := j.Validate(); err != nil {
		t.Errorf("loopback join without CA: %v", err)
	}
	p := filepath.Join(dir, "unknown.join")
	os.WriteFile(p, []byte(`{"app":"app","extra":1}`), 0o600)
	if _, err := LoadJoin(p); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := LoadJoin(filepath.Join(dir, "missing.join")); err == nil || !strings.Contains(err.Error(), "missing.join") {
		t.Errorf("missing file: %v", err)
	}
}

func TestServerTLS(t *testing.T) {
	d, path := openTestDir(t)
	conf, err := d.ServerTLS("main.example", "192.0.2.7:4222")
	if err != nil {
		t.Fatal(err)
	}
	if conf.MinVersion != tls.VersionTLS12 || len(conf.Certificates) != 1 {
		t.Fatalf("config %+v", conf)
	}
	leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"main.example", "192.0.2.7", "localhost", "127.0.0.1", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: d.CAPool()}); err != nil {
			t.Errorf("certificate for %s: %v", host, err)
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
				if err := leaf.VerifyHostname(n.IP.String()); err != nil {
					t.Errorf("interface address %s: %v", n.IP, err)
				}
			}
		}
	}
	if runtime.GOOS != "windows" && mode(t, filepath.Join(path, serverKeyFile)) != 0o600 {
		t.Error("server key is not 0600")
	}

	// Reused while it covers the hosts, also from another Dir value.
	d2, err := OpenDir(path, "app")
	if err != nil {
		t.Fatal(err)
	}
	again, err := d2.ServerTLS("main.example")
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificates[0].Certificate[0]) != string(conf.Certificates[0].Certificate[0]) {
		t.Error("certificate not reused for a subset of its hosts")
	}
	// Replaced when a host is new.
	other, err := d2.ServerTLS("new.example")
	if err != nil {
		t.Fatal(err)
	}
	if string(other.Certificates[0].Certificate[0]) == string(conf.Certificates[0].Certificate[0]) {
		t.Error("certificate reused for a host it does not cover")
	}

	// A TLS handshake with the CA pinned works; with another CA it fails.
	check := func(pool *x509.CertPool) error {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", other)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := check(d.CAPool()); err != nil {
		t.Errorf("handshake with the pinned CA: %v", err)
	}
	stranger, _ := openTestDir(t)
	if err := check(stranger.CAPool()); err == nil {
		t.Error("handshake with another CA pinned succeeded")
	}
}

func TestServerTLSRenewsNearExpiry(t *testing.T) {
	d, path := openTestDir(t)
	first, err := d.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	// Replace the certificate on disk by one that expires in 10 days.
	names, ips, err := serverNames(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: names, IPAddresses: ips}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, d.caCert, &key.PublicKey, d.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := marshalKeyPEM(key)
	os.WriteFile(filepath.Join(path, serverKeyFile), keyPEM, 0o600)
	os.WriteFile(filepath.Join(path, serverFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)

	renewed, err := d.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(renewed.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(leaf.NotAfter) < 365*24*time.Hour {
		t.Errorf("certificate expiring %v was reused", leaf.NotAfter)
	}
	if string(renewed.Certificates[0].Certificate[0]) == string(first.Certificates[0].Certificate[0]) {
		t.Error("renewed certificate is the first one")
	}
}
