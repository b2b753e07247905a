package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kervi/kervi-go/nodes"
)

func TestAddListForget(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "kervi-nodes")
	join := filepath.Join(tmp, "pi1.join")
	var out bytes.Buffer
	err := run([]string{"-dir", dir, "-app", "farm", "add", "pi1", "-url", "tls://10.0.0.2:4222", "-url", "tls://main.local:4222", "-o", join}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), join) || !strings.Contains(out.String(), "restart the main node") {
		t.Errorf("add printed:\n%s", out.String())
	}
	j, err := nodes.LoadJoin(join)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := j.PublicKey()
	if j.App != "farm" || j.Node != "pi1" || len(j.URLs) != 2 || !strings.Contains(out.String(), pub) {
		t.Errorf("join %+v", j)
	}

	// The node name after the flags works too; the default file is NODE.join.
	t.Chdir(tmp)
	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "add", "-url", "tls://10.0.0.2:4222", "pi2"}, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes.LoadJoin(filepath.Join(tmp, "pi2.join")); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "list"}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "pi1 ") || !strings.Contains(lines[1], pub) || !strings.HasPrefix(lines[2], "pi2 ") {
		t.Errorf("list printed:\n%s", out.String())
	}

	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "forget", "pi1"}, &out); err != nil {
		t.Fatal(err)
	}
	d, err := nodes.OpenDir(dir, "farm")
	if err != nil {
		t.Fatal(err)
	}
	if ns := d.Nodes(); len(ns) != 1 || ns[0].Name != "pi2" {
		t.Errorf("nodes after forget: %+v", ns)
	}
}

func TestAddRefusesToOverwrite(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "kervi-nodes")
	join := filepath.Join(tmp, "pi1.join")
	if err := os.WriteFile(join, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run([]string{"-dir", dir, "-app", "farm", "add", "pi1", "-url", "tls://h:4222", "-o", join}, &out)
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("add over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(join); string(b) != "old" {
		t.Error("the existing file was overwritten")
	}
	d, err := nodes.OpenDir(dir, "farm")
	if err != nil {
		t.Fatal(err)
	}
	if ns := d.Nodes(); len(ns) != 0 {
		t.Errorf("a node was paired anyway: %+v", ns)
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kervi-nodes")
	for _, args := range [][]string{
		{},
		{"list"},
		{"-app", "farm"},
		{"-app", "farm", "frobnicate"},
		{"-app", "farm", "add", "pi1"},
		{"-app", "farm", "add", "-url", "tls://h:4222"},
		{"-app", "farm", "add", "pi1", "pi2", "-url", "tls://h:4222"},
		{"-app", "farm", "forget"},
		{"-app", "farm", "list", "extra"},
		{"-nope"},
	} {
		var out bytes.Buffer
		err := run(append([]string{"-dir", dir}, args...), &out)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := run([]string{"-dir", dir, "-app", "farm", "forget", "ghost"}, &out); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("forget an unknown node: %v", err)
	}
	if err := run([]string{"-dir", dir, "-app", "farm", "add", "main", "-url", "tls://h:4222", "-o", filepath.Join(t.TempDir(), "m.join")}, &out); err == nil {
		t.Error("add main: no error")
	}
	out.Reset()
	if err := run([]string{"-dir", dir, "-app", "farm", "list"}, &out); err != nil || !strings.Contains(out.String(), "No node") {
		t.Errorf("empty list: %v, %q", err, out.String())
	}
}
