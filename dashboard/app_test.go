package dashboard_test

// The application of the tests: a fan-like controller and a load module.
// The test binary is also the binary of their module processes: TestMain
// serves a module when kervi started the binary as one, with the dashboard
// listening on $KERVI_DASH_ADDR.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

const envAddr = "KERVI_DASH_ADDR"

func TestMain(m *testing.M) {
	if kervi.IsModuleProcess() {
		app, err := newApp(os.Getenv(envAddr))
		if base := os.Getenv(envBenchBase); base != "" { // bench_test.go
			var ns int64
			if ns, err = strconv.ParseInt(base, 10, 64); err == nil {
				app, err = benchApp(os.Getenv(envAddr), ns)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		app.Run(context.Background()) // never returns in a module process
	}
	os.Exit(m.Run())
}

// loadIDs are the ids of the load module's values.
var loadIDs = func() []string {
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("load.v%d", i)
	}
	return ids
}()

// fanSetup makes a fan-like controller: an input temperature in [0, 100],
// an output speed that follows it, and actions.
func fanSetup(ctx context.Context, bus *ipc.Bus) error {
	bus.Announce(ipc.Description{ID: "fan", Kind: ipc.KindController, Name: "Fan"})
	temp := values.NewNumber(bus, "fan.temp", "Temperature", values.Unit("°C"), values.Range(0, 100), values.Input(), values.Initial(20.0), values.Parent("fan"))
	speed := values.NewNumber(bus, "fan.speed", "Speed", values.Unit("%"), values.Range(0, 100), values.Output(), values.Initial(20.0), values.Parent("fan"))
	values.NewEnum(bus, "fan.mode", "Mode", values.Choices("auto", "manual"), values.Input(), values.Initial("auto"), values.Parent("fan"))
	temp.OnChange(func(ctx context.Context, v float64) { speed.Set(v) })
	actions.Register(bus, "fan.activate", func(on bool) (string, error) {
		if on {
			return "on", nil
		}
		return "off", nil
	})
	actions.Register(bus, "fan.fail", func() error { return errors.New("the fan is stuck") })
	return nil
}

// loadSetup makes ten number outputs and an action that sets each of them
// to 1, 2, ... rounds, and a string output that the action can fill.
func loadSetup(ctx context.Context, bus *ipc.Bus) error {
	vs := make([]*values.Number, len(loadIDs))
	for i, id := range loadIDs {
		vs[i] = values.NewNumber(bus, id, id, values.Output(), values.Initial(0.0))
	}
	big := values.NewString(bus, "load.big", "Big", values.Output(), values.Initial(""))
	actions.Register(bus, "load.burst", func(rounds int, bigSize int) error {
		for r := 1; r <= rounds; r++ {
			for _, v := range vs {
				if err := v.Set(float64(r)); err != nil {
					return err
				}
			}
			if bigSize > 0 {
				if err := big.Set(fmt.Sprintf("%d:%s", r, strings.Repeat("x", bigSize))); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return nil
}

// envUsers, when set, adds the home module and the test users
// (TestUsersApp).
const envUsers = "KERVI_DASH_USERS"

func newApp(addr string, opts ...kervi.Option) (*kervi.Application, error) {
	mods := []kervi.Module{
		{Name: "fan", Setup: fanSetup},
		{Name: "load", Setup: loadSetup},
	}
	dash := []dashboard.Option{dashboard.Addr(addr)}
	opts = append(opts, kervi.WithModuleEnv(envAddr+"="+addr))
	if os.Getenv(envUsers) != "" {
		mods = append(mods, kervi.Module{Name: "home", Setup: homeSetup})
		dash = append(dash, dashboard.Users(testUsers()...))
		opts = append(opts, kervi.WithModuleEnv(envUsers+"=1"))
	}
	mods = append(mods, dashboard.Module(dash...))
	return kervi.NewApplication(mods, opts...)
}

// freeAddr returns a loopback address with a port that was free.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startApp runs the test application with module processes until the test
// ends, and returns it and the dashboard's base URL.
func startApp(t *testing.T) (*kervi.Application, string) {
	t.Helper()
	addr := freeAddr(t)
	app, err := newApp(addr, kervi.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return")
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	return app, "http://" + addr
}

// do makes a request and decodes a JSON answer into out (if not nil).
func do(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// eventually calls f until it returns nil or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
