package dashboard_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
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
