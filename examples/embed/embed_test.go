package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
)

// TestEmbeddingProgram builds the program, runs it, and checks that its
// own start-up work ran once although kervi started it three times (the
// parent and two module processes), that its HTTP API reads, sets and
// calls across processes from a request that may come before the
// application is ready, and that its server is shut down when the
// application stops, although Main ends the process with os.Exit.
func TestEmbeddingProgram(t *testing.T) {
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
	var lines []string
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
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

	// The server runs before the application is ready: a read waits for it.
	if v := get(t, base+"/values/room.target"); v["value"] != 21.0 {
		t.Fatalf("room.target = %v", v)
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
	// Sets and calls reach the module's process; reads see them at once.
	if code, body := do(t, http.MethodPut, base+"/values/room.target", "23"); code != http.StatusOK {
		t.Fatalf("set: %d %s", code, body)
	}
	if v := get(t, base+"/values/room.target"); v["value"] != 23.0 {
		t.Fatalf("room.target after the set = %v", v)
	}
	if code, body := do(t, http.MethodPost, base+"/actions/room.nudge", "[1.5]"); code != http.StatusOK || strings.TrimSpace(body) != "24.5" {
		t.Fatalf("nudge: %d %s", code, body)
	}
	if v := get(t, base+"/values/room.target"); v["value"] != 24.5 {
		t.Fatalf("room.target after the nudge = %v", v)
	}
	if code, body := do(t, http.MethodPut, base+"/values/room.target", "99"); code != http.StatusBadRequest || !strings.Contains(body, "range") {
		t.Fatalf("set out of range: %d %s", code, body)
	}
	if code, body := do(t, http.MethodGet, base+"/values/room.nowhere", ""); code != http.StatusNotFound || !strings.Contains(body, "room.nowhere") {
		t.Fatalf("unknown value: %d %s", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-eof:
	case <-time.After(30 * time.Second):
		t.Fatalf("the program did not end\n%s", stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !slices.Contains(lines, "server stopped") {
		t.Fatalf("the server was not shut down; stdout:\n%s", strings.Join(lines, "\n"))
	}
	b, err := os.ReadFile(startupLog)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 1 {
		t.Fatalf("start-up work ran %d times:\n%s", len(lines), b)
	}
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) map[string]any {
	t.Helper()
	code, body := do(t, http.MethodGet, url, "")
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	return v
}
