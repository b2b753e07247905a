package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
)

// TestStartupWorkRunsOnce builds the program, runs it, and checks that its
// own start-up work ran once although kervi started it three times (the
// parent and two module processes).
func TestStartupWorkRunsOnce(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "embed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	startupLog := filepath.Join(dir, "startup.log")
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-startup-log", startupLog)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := make(chan string, 1)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addr <- a
			}
			if sc.Text() == "application ready" {
				close(ready)
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("no server\n%s", stderr.String())
	}

	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("application not ready\n%s", stderr.String())
	}
	// The program reports its modules, each ready in a process of its own.
	var mods []kervi.ModuleStatus
	resp, err := http.Get(base + "/modules")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&mods)
	resp.Body.Close()
	if err != nil || len(mods) != 2 {
		t.Fatalf("modules %+v, %v", mods, err)
	}
	for _, m := range mods {
		if m.State != kervi.StateReady || m.PID <= 0 || m.PID == cmd.Process.Pid {
			t.Fatalf("module %+v", m)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(startupLog)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 {
		t.Fatalf("start-up work ran %d times:\n%s", len(lines), b)
	}
}
