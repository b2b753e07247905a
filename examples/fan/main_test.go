package main

import (
	"bufio"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExampleRuns builds the example and runs it as a user would: it must
// start its modules in processes of their own, log the fan speed as the
// CPU load changes, and stop cleanly on Ctrl-C.
func TestExampleRuns(t *testing.T) {
	cmd := exec.Command(fanBinary(t), "-addr", "127.0.0.1:0") // any free port: never the default's
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	started := regexp.MustCompile(`\[(\w+)\] module process started pid=(\d+)`)
	fan := regexp.MustCompile(`\[controllers\] fan temp=[\d.]+ fan_speed=[\d.]+`)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	pids := map[string]string{}
	fanLines := 0
	deadline := time.After(30 * time.Second)
	for len(pids) < 4 || fanLines < 3 { // three readings, one a second
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("example exited early:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if m := started.FindStringSubmatch(l); m != nil {
				pids[m[1]] = m[2]
			}
			if fan.MatchString(l) {
				fanLines++
			}
		case <-deadline:
			t.Fatalf("example did not run as expected:\n%s", strings.Join(log, "\n"))
		}
	}
	for _, m := range []string{"sensors", "controllers", "dashboard", "demoload"} {
		if pids[m] == "" {
			t.Fatalf("module %s did not start:\n%s", m, strings.Join(log, "\n"))
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	for l := range lines {
		log = append(log, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after Ctrl-C: %v\n%s", err, strings.Join(log, "\n"))
	}
	if !strings.Contains(strings.Join(log, "\n"), "fan controller active=false") {
		t.Fatalf("app_exit did not switch the fan off:\n%s", strings.Join(log, "\n"))
	}
}
