package nodetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/internal/exampletest"
	"github.com/kervi/kervi-go/nodes"
)

// TestStrangersAreRefused: a node main does not know (it was forgotten),
// and a join file of another application, are refused with errors that
// name them; main runs on.
func TestStrangersAreRefused(t *testing.T) {
	c := newCluster(t, envFast+"=1")
	d, err := nodes.OpenDir(c.dir, appName)
	if err != nil {
		t.Fatal(err)
	}
	// pi1 was paired, then forgotten; main restarts and refuses it.
	if err := d.Forget("pi1"); err != nil {
		t.Fatal(err)
	}
	c.stopMain()
	c.startMain()
	env := []string{envRole + "=node", kervi.EnvNode + "=pi1", kervi.EnvJoin + "=" + c.join}
	log := exampletest.StartBinary(t, os.Args[0], env).Fails(30 * time.Second)
	if !strings.Contains(log, "pi1") || !strings.Contains(strings.ToLower(log), "authorization") {
		t.Fatalf("a forgotten node's error does not say it was refused:\n%s", log)
	}

	// A join file made for another application.
	other, err := nodes.OpenDir(filepath.Join(t.TempDir(), "other"), "other_app")
	if err != nil {
		t.Fatal(err)
	}
	j, err := other.Add("pi1", []string{c.proxy.URL()})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other.join")
	if err := j.Save(path); err != nil {
		t.Fatal(err)
	}
	env = []string{envRole + "=node", kervi.EnvNode + "=pi1", kervi.EnvJoin + "=" + path}
	log = exampletest.StartBinary(t, os.Args[0], env).Fails(30 * time.Second)
	if !strings.Contains(log, `"other_app"`) || !strings.Contains(log, appName) {
		t.Fatalf("a join file of another application: the error does not name both:\n%s", log)
	}
	if got := c.app.Node(); got != kervi.MainNode {
		t.Fatalf("main's node is %q", got)
	}
}
