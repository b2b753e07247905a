package kervi

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/cluster"
	"github.com/kervi/kervi-go/ipc"
	_ "github.com/kervi/kervi-go/nodes/nats"
)

// TestNodeStateKeepsTheNewest: the bridge may tell a node's states out of
// order (offline, computed before it came back, told after online); the
// main node's values keep the newest.
func TestNodeStateKeepsTheNewest(t *testing.T) {
	app, err := NewApplication([]Module{{Name: "house", Setup: noSetup}},
		InProcess(), WithName("greenhouse"), WithNodes(map[string][]string{"pi1": nil}),
		WithNodeDir(t.TempDir()), WithNATSListen(""),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := app.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	c := &clusterRun{}
	t0 := time.Now()
	off := cluster.NodeState{Name: "pi1", Online: false, Since: t0}
	on := cluster.NodeState{Name: "pi1", Online: true, Version: "v2", Since: t0.Add(time.Millisecond)}
	app.nodeState(c, on)
	app.nodeState(c, off) // late
	if v := app.nodeVals["pi1"].online.Value(); !v {
		t.Fatal("pi1 reads offline after a late, older offline state")
	}
	app.nodeState(c, cluster.NodeState{Name: "pi1", Online: false, Since: t0.Add(2 * time.Millisecond)})
	if v := app.nodeVals["pi1"].online.Value(); v {
		t.Fatal("pi1 reads online after a newer offline state")
	}
}

func noSetup(context.Context, *ipc.Bus) error { return nil }

// TestJoinFileWithoutNodes: a join file given to a program without
// WithNodes is named in the error, not an empty node name.
func TestJoinFileWithoutNodes(t *testing.T) {
	t.Setenv(EnvNode, "")
	t.Setenv(EnvJoin, "/etc/greenhouse/pi1.join")
	_, err := NewApplication([]Module{{Name: "house", Setup: noSetup}}, InProcess())
	if err == nil || err.Error() != "kervi: join file /etc/greenhouse/pi1.join: the application has no nodes (kervi.WithNodes)" {
		t.Fatalf("got %v", err)
	}
}
