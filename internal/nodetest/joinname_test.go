package nodetest

import (
	"context"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
)

// TestNodeNamedByJoinFileOnly starts pi1 as docs/nodes.md does: with its
// join file and no KERVI_NODE. Its module processes must run as pi1's too.
func TestNodeNamedByJoinFileOnly(t *testing.T) {
	c := newCluster(t)
	c.startNode(kervi.EnvNode + "=") // empty: the name comes from the join file
	c.waitID("bench.water")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := c.app.Bus().Call(ctx, "bench.water", 5.0); err != nil || res != "watered 5 ml" {
		t.Fatalf("bench.water: %v, %v\n%s", res, err, c.log)
	}
}

// TestCleanStopIsQuiet stops pi1 with Ctrl-C: closing its own connection
// must not be reported as the link going down, nor the others offline.
func TestCleanStopIsQuiet(t *testing.T) {
	c := newCluster(t)
	p := c.startNode()
	p.WaitLine("nodes: node online", 20*time.Second)
	p.Interrupt()
	p.Exit(30 * time.Second)
	for _, bad := range []string{"the link to NATS is down", "node offline"} {
		if strings.Contains(p.Log(), bad) {
			t.Errorf("a clean stop logs %q:\n%s", bad, p.Log())
		}
	}
}
