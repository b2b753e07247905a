package nodetest

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kervi/kervi-go/internal/browsertest"
	"github.com/kervi/kervi-go/internal/faultproxy"
)

func js(css string) string { return fmt.Sprintf("document.querySelector(%q)", css) }

// TestDashboardShowsNodes: the main node's dashboard shows pi1's values
// live, the nodes' state in the System view, and greys pi1's widgets as
// stale while pi1 is offline.
func TestDashboardShowsNodes(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	c := newCluster(t, envFast+"=1", envDash+"="+addr)
	c.startNode()
	c.waitID("bench.temp")
	p := browsertest.New(t)
	const timeout = 20 * time.Second
	p.Do(timeout, chromedp.Navigate("http://"+addr+"/"))
	temp := `.widget[data-id="bench.temp"]`
	browsertest.Wait[bool](p, timeout, "pi1's bench.temp on the dashboard", `!!`+js(temp))
	if node := browsertest.Eval[string](p, js(temp)+`.dataset.node`); node != "pi1" {
		t.Fatalf("bench.temp's widget says node %q", node)
	}
	if stale := browsertest.Eval[bool](p, js(temp)+`.classList.contains("stale")`); stale {
		t.Fatal("bench.temp is stale while pi1 is online")
	}

	c.proxy.SetMode(faultproxy.Blackhole)
	browsertest.Wait[bool](p, timeout, "bench.temp greyed while pi1 is offline", js(temp)+`?.classList.contains("stale") === true`)
	c.proxy.SetMode(faultproxy.Pass)
	browsertest.Wait[bool](p, timeout, "bench.temp live again", js(temp)+`?.classList.contains("stale") === false`)

	p.Do(timeout, chromedp.Navigate("http://"+addr+"/#/d/_system"))
	row := `#nodes tr[data-node="pi1"]`
	browsertest.Wait[bool](p, timeout, "pi1 online in the Nodes panel", js(row)+`?.dataset.state === "ready"`)
	browsertest.Wait[bool](p, timeout, "main in the Nodes panel", `!!`+js(`#nodes tr[data-node="main"]`))
	browsertest.Wait[bool](p, timeout, "module bench on pi1", js(`tr[data-module="bench"] th`)+`?.textContent === "bench (pi1)"`)
	c.proxy.SetMode(faultproxy.Blackhole)
	browsertest.Wait[bool](p, timeout, "pi1 offline in the Nodes panel", js(row)+`?.dataset.state === "failed"`)
}
