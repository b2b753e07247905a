package main

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kervi/kervi-go/nodes"
)

func TestAddLeafListForget(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	dir := filepath.Join(tmp, "kervi-nodes")
	var out bytes.Buffer
	for _, n := range []string{"pi2", "pi3"} {
		if err := run([]string{"-dir", dir, "-app", "farm", "add", n, "-url", "tls://shed.local:4222"}, &out); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	err := run([]string{"-dir", dir, "-app", "farm", "add-leaf", "shed", "-member", "pi2", "-member", "pi3",
		"-url", "tls://10.0.0.1:7422", "-host", "shed.lan"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "shed.join") || !strings.Contains(out.String(), "tls://shed.lan:4222") {
		t.Errorf("add-leaf printed:\n%s", out.String())
	}
	j, err := nodes.LoadJoin(filepath.Join(tmp, "shed.join"))
	if err != nil {
		t.Fatal(err)
	}
	if j.Leaf == nil || len(j.Leaf.Members) != 2 || j.URLs[0] != "tls://10.0.0.1:7422" {
		t.Fatalf("shed's join %+v", j)
	}
	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "list"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "LEAF HUB OF") || !strings.Contains(out.String(), "pi2,pi3") {
		t.Errorf("list printed:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "forget", "pi3"}, &out); err != nil {
		t.Fatal(err)
	}
	// The shed's join file still lets pi3 into the site, whose leaf carries
	// its calls to every node: restarting main does not refuse it.
	if !strings.Contains(out.String(), "member of leaf hub shed") || !strings.Contains(out.String(), "Pair shed again") {
		t.Errorf("forget of a member printed:\n%s", out.String())
	}
	d, err := nodes.OpenDir(dir, "farm")
	if err != nil {
		t.Fatal(err)
	}
	ns := d.Nodes()
	if i := slices.IndexFunc(ns, func(n nodes.Node) bool { return n.Name == "shed" }); i < 0 || !slices.Equal(ns[i].Members, []string{"pi2"}) {
		t.Errorf("nodes after forgetting pi3: %+v", ns)
	}
}

func TestAddLeafBadCommandLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kervi-nodes")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add-leaf", "shed", "-member", "pi2"}, "-url"},
		{[]string{"add-leaf", "shed", "-url", "tls://m:7422"}, "-member"},
		{[]string{"add-leaf", "-url", "tls://m:7422", "-member", "pi2"}, "one node name"},
		{[]string{"add-leaf", "shed", "-url", "tls://m:7422", "-member", "pi2", "-o", filepath.Join(t.TempDir(), "s.join")}, `member "pi2" is not paired`},
	} {
		err := run(append([]string{"-dir", dir, "-app", "farm"}, c.args...), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
