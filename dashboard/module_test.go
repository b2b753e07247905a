package dashboard_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestModuleListens: the module logs the URL to open, warns when it listens
// beyond loopback, serves, and stops with the module.
func TestModuleListens(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		t.Run(tc.addr, func(t *testing.T) {
			var logs lockedBuffer
			h := ipctest.New(ipctest.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			defer h.Close()
			if _, err := h.Module("fan", fanSetup); err != nil {
				t.Fatal(err)
			}
			m := dashboard.Module(dashboard.Addr(tc.addr))
			if m.Name != dashboard.ModuleName {
				t.Fatalf("name %q", m.Name)
			}
			if _, err := h.Module(m.Name, m.Setup); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := h.Start(ctx); err != nil {
				t.Fatal(err)
			}
			url := regexp.MustCompile(`url=(http://127\.0\.0\.1:[0-9]+/)`).FindStringSubmatch(logs.String())
			if url == nil {
				t.Fatalf("no URL logged:\n%s", logs.String())
			}
			if got := strings.Contains(logs.String(), "beyond loopback"); got != tc.warn {
				t.Fatalf("warning logged: %v, want %v:\n%s", got, tc.warn, logs.String())
			}
			var v value
			if st := do(t, "GET", url[1]+"api/values/fan.temp", "", &v); st != 200 || v.Value != 20.0 {
				t.Fatalf("GET: %d %+v", st, v)
			}
			if err := h.Stop(m.Name); err != nil {
				t.Fatal(err)
			}
			if resp, err := http.Get(url[1] + "api/values"); err == nil {
				resp.Body.Close()
				t.Fatal("still serving after the module stopped")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Connect("x")
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []dashboard.Option{dashboard.Addr("nope"), dashboard.CallTimeout(0), dashboard.WriteTimeout(-1), dashboard.MaxMessage(0), dashboard.FlushInterval(-time.Millisecond)} {
		if s, err := dashboard.New(bus, opt); err == nil {
			s.Close()
			t.Error("bad option accepted")
		}
	}
	if _, err := dashboard.New(nil); err == nil {
		t.Error("nil bus accepted")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files, and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kervi test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestModuleWarnings: beyond loopback, the module warns loudly without
// users, warns of plain HTTP with users, and says nothing with users over
// TLS, which it serves.
func TestModuleWarnings(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	users := dashboard.Users(testUsers()...)
	for _, tc := range []struct {
		name   string
		opts   []dashboard.Option
		scheme string
		warn   string // "" for none
	}{
		{"loopback users", []dashboard.Option{dashboard.Addr("127.0.0.1:0"), users}, "http", ""},
		{"no users", []dashboard.Option{dashboard.Addr("0.0.0.0:0")}, "http", "WITH NO USERS"},
		{"users plain", []dashboard.Option{dashboard.Addr("0.0.0.0:0"), users}, "http", "over plain HTTP"},
		{"users tls", []dashboard.Option{dashboard.Addr("0.0.0.0:0"), users, dashboard.TLS(certFile, keyFile)}, "https", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			h := ipctest.New(ipctest.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			defer h.Close()
			m := dashboard.Module(tc.opts...)
			if _, err := h.Module(m.Name, m.Setup); err != nil {
				t.Fatal(err)
			}
			url := regexp.MustCompile(`url=(https?://127\.0\.0\.1:[0-9]+/)`).FindStringSubmatch(logs.String())
			if url == nil || !strings.HasPrefix(url[1], tc.scheme+"://") {
				t.Fatalf("URL logged: %v:\n%s", url, logs.String())
			}
			warned := strings.Contains(logs.String(), "level=WARN")
			if tc.warn == "" && warned || tc.warn != "" && !strings.Contains(logs.String(), tc.warn) ||
				tc.name == "users plain" && strings.Contains(logs.String(), "NO USERS") {
				t.Fatalf("want warning %q:\n%s", tc.warn, logs.String())
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			resp, err := client.Get(url[1] + "api/session")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 401, false: 200}[tc.name != "no users"]; resp.StatusCode != want {
				t.Fatalf("GET /api/session: %d; want %d", resp.StatusCode, want)
			}
		})
	}
	// Files that are not a certificate fail the setup, naming them.
	h := ipctest.New()
	defer h.Close()
	m := dashboard.Module(dashboard.Addr("127.0.0.1:0"), dashboard.TLS(keyFile, certFile))
	if _, err := h.Module(m.Name, m.Setup); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("setup with a bad certificate: %v", err)
	}
}
