package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The example's binary, built once for the tests of the package, in a
// folder that TestMain removes.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// fanBinary returns the path of the example's binary, built with go build.
func fanBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "kervi-fan-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "fan")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// fanApp is the example running as a user runs it: a parent process and
// one process per module, with the dashboard on a free port.
type fanApp struct {
	t    *testing.T
	cmd  *exec.Cmd
	URL  string // the dashboard's, as its log says: "http://127.0.0.1:port/"
	exit chan struct{}

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced at each new line
}

var dashboardURL = regexp.MustCompile(`\[dashboard\] dashboard: open (http://\S+/)`)

// startFan starts the example with the dashboard on a free port, without
// the demo load (which keeps a CPU core busy: the tests of other packages
// run meanwhile) unless args say -load=true, and with args; it waits for
// the dashboard's URL in its log. The application stops (Ctrl-C) when the
// test ends.
func startFan(t *testing.T, args ...string) *fanApp {
	t.Helper()
	bin := fanBinary(t)
	a := &fanApp{t: t, changed: make(chan struct{}), exit: make(chan struct{})}
	a.cmd = exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-load=false"}, args...)...)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	a.cmd.Stdout = a.cmd.Stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			a.mu.Lock()
			a.lines = append(a.lines, sc.Text())
			close(a.changed)
			a.changed = make(chan struct{})
			a.mu.Unlock()
		}
		a.cmd.Wait()
		close(a.exit)
	}()
	t.Cleanup(a.stop)
	a.URL = a.waitLog(dashboardURL, 30*time.Second)[1]
	return a
}

// stop stops the application with Ctrl-C, killing it if it does not stop
// in time, and logs its output if the test failed.
func (a *fanApp) stop() {
	a.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-a.exit:
	case <-time.After(15 * time.Second):
		a.t.Errorf("the example did not stop within 15 s of Ctrl-C")
		a.cmd.Process.Kill()
		<-a.exit
	}
	if a.t.Failed() {
		a.t.Logf("the example's log:\n%s", strings.Join(a.log(), "\n"))
	}
}

func (a *fanApp) log() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.lines...)
}

// waitLog waits for a line of the log that matches re, from the start of
// the log, and returns its submatches.
func (a *fanApp) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	a.t.Helper()
	m, ok := a.findLog(re, 0, timeout)
	if !ok {
		a.t.Fatalf("no line matching %q in the example's log within %v:\n%s", re, timeout, strings.Join(a.log(), "\n"))
	}
	return m
}

// findLog waits for a line of the log that matches re, from line from
// on, and returns its submatches; false if none comes within timeout or
// the application exits.
func (a *fanApp) findLog(re *regexp.Regexp, from int, timeout time.Duration) ([]string, bool) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		for ; from < len(a.lines); from++ {
			if m := re.FindStringSubmatch(a.lines[from]); m != nil {
				a.mu.Unlock()
				return m, true
			}
		}
		changed := a.changed
		a.mu.Unlock()
		select {
		case <-changed:
		case <-a.exit:
			return nil, false
		case <-deadline:
			return nil, false
		}
	}
}

// logLen returns the number of lines logged so far.
func (a *fanApp) logLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.lines)
}

// value reads a value's latest content from the dashboard's REST API,
// GET /api/values/{id}; ok is false if it has none.
func (a *fanApp) value(id string) (v any, ok bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"api/values/"+id, nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET /api/values/%s: %s: %s", id, resp.Status, body)
	}
	var ev struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, false, fmt.Errorf("GET /api/values/%s: %v: %s", id, err, body)
	}
	return ev.Value, true, nil
}

// waitValue polls the REST API until the value id satisfies ok, and
// returns its content; it fails the test after timeout, saying what was
// awaited.
func (a *fanApp) waitValue(id, what string, timeout time.Duration, ok func(v any) bool) any {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	var last any
	var lastErr error
	for {
		v, has, err := a.value(id)
		if err == nil && has && ok(v) {
			return v
		}
		last, lastErr = v, err
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: %s did not %s within %v (last %v, error %v)", id, id, what, timeout, last, lastErr)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// history returns the number of points of a value's history, GET
// /api/history/{id}.
func (a *fanApp) history(id string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"api/history/"+id, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var pts [][]any
	if err := json.NewDecoder(resp.Body).Decode(&pts); err != nil {
		return 0, fmt.Errorf("GET /api/history/%s: %s: %v", id, resp.Status, err)
	}
	return len(pts), nil
}
