package kervi_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/nodes"
	_ "github.com/kervi/kervi-go/nodes/nats"
)

func sitePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// siteNodes pairs pi2, joining the shed at siteAddr, and the shed, a site's
// leaf hub dialing main's leaf listener at leafAddr; it returns the
// pairing directory and the join files.
func siteNodes(t *testing.T, app, siteAddr, leafAddr string) (dir, shedJoin, pi2Join string) {
	t.Helper()
	tmp := t.TempDir()
	dir = filepath.Join(tmp, "pairing")
	d, err := nodes.OpenDir(dir, app)
	if err != nil {
		t.Fatal(err)
	}
	pj, err := d.Add("pi2", []string{"tls://" + siteAddr})
	if err != nil {
		t.Fatal(err)
	}
	sj, err := d.AddLeaf("shed", []string{"pi2"}, []string{"tls://" + leafAddr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	shedJoin, pi2Join = filepath.Join(tmp, "shed.join"), filepath.Join(tmp, "pi2.join")
	if err := sj.Save(shedJoin); err != nil {
		t.Fatal(err)
	}
	if err := pj.Save(pi2Join); err != nil {
		t.Fatal(err)
	}
	return dir, shedJoin, pi2Join
}

// TestLeafSiteInProcess runs main, the shed (a site's leaf hub, its
// server at WithNATSLeafSite) and pi2 (joined to the shed) in this
// process: main calls pi2 through the shed's leaf.
func TestLeafSiteInProcess(t *testing.T) {
	const app = "site_inproc"
	siteAddr, leafAddr := "127.0.0.1:"+sitePort(t), "127.0.0.1:"+sitePort(t)
	dir, shedJoin, pi2Join := siteNodes(t, app, siteAddr, leafAddr)
	mods := []kervi.Module{
		{Name: "house", Setup: func(ctx context.Context, b *ipc.Bus) error { return nil }},
		{Name: "shed", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "shed.ping", func() string { return "pong from shed" })
			return nil
		}},
		{Name: "pi2", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "pi2.ask_shed", func(ctx context.Context) (any, error) { return b.Call(ctx, "shed.ping") })
			return nil
		}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(extra ...kervi.Option) *kervi.Application {
		t.Helper()
		opts := append([]kervi.Option{kervi.WithName(app), kervi.InProcess(), kervi.WithNodes(map[string][]string{"shed": {"shed"}, "pi2": {"pi2"}}),
			kervi.WithNodeHeartbeat(100*time.Millisecond, time.Second)}, extra...)
		a, err := kervi.NewApplication(mods, opts...)
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(rctx) }()
		t.Cleanup(func() {
			stop()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("node %s did not stop", a.Node())
			}
		})
		if err := a.WaitReady(ctx); err != nil {
			t.Fatalf("node %s: %v", a.Node(), err)
		}
		return a
	}
	mainApp := start(kervi.WithNodeDir(dir), kervi.WithNATSListen("127.0.0.1:0"), kervi.WithNATSLeafListen(leafAddr))
	start(kervi.WithJoinFile(shedJoin), kervi.WithNATSLeafSite(siteAddr))
	start(kervi.WithJoinFile(pi2Join))
	// Until pi2's and shed's catalogues reach main and each other, calls
	// fail fast; wait for main's catalogue, then for pi2 to see the shed.
	ready := make(chan struct{})
	sub, err := mainApp.Bus().FollowCatalogue(func(c ipc.CatalogueChange) {
		if c.Kind == ipc.ChangeAnnounced && c.Description.ID == "pi2.ask_shed" {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("pi2.ask_shed never reached main through the shed's leaf")
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := mainApp.Bus().Call(ctx, "pi2.ask_shed")
		if err == nil {
			if res != "pong from shed" {
				t.Fatalf("main → pi2 → shed: %v", res)
			}
			return
		}
		if !strings.Contains(err.Error(), "shed.ping") {
			t.Fatalf("main → pi2 → shed: %v", err)
		}
		select { // pi2 does not know shed.ping yet: ask again
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("main → pi2 → shed: %v", err)
		}
	}
}

// TestLeafSiteBadListen: a leaf hub's bad site address is an error naming
// the node.
func TestLeafSiteBadListen(t *testing.T) {
	const app = "site_bad"
	_, shedJoin, _ := siteNodes(t, app, "127.0.0.1:4222", "127.0.0.1:"+sitePort(t))
	a, err := kervi.NewApplication([]kervi.Module{{Name: "shed", Setup: func(context.Context, *ipc.Bus) error { return nil }}},
		kervi.WithName(app), kervi.InProcess(), kervi.WithNodes(map[string][]string{"shed": {"shed"}}),
		kervi.WithJoinFile(shedJoin), kervi.WithNATSLeafSite("127.0.0.1:nope"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `node "shed": site server`) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("a bad site address: %v, want an error naming node shed and the address", err)
	}
}
