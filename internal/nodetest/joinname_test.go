package nodetest

import (
	"context"
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
