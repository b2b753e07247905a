package kervi_test

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kervi/kervi-go/internal/testbus"
)

// parentProcess runs the test binary as the parent of the named
// application, as a user's program would run, and returns once it printed
// the pids of its module processes.
type parentProcess struct {
	cmd    *exec.Cmd
	pids   []int
	stderr *lockedBuffer
	exited chan error
	lines  chan string // what else it printed
}

func startParent(t *testing.T, app string, env ...string) *parentProcess {
	t.Helper()
	p := &parentProcess{stderr: &lockedBuffer{}, exited: make(chan error, 1), lines: make(chan string, 100)}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(append(os.Environ(), envRole+"=parent", envApp+"="+app), env...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := make(chan []int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
				var ps []int
				for _, f := range strings.Fields(rest) {
					n, _ := strconv.Atoi(f)
					ps = append(ps, n)
				}
				pids <- ps
				continue
			}
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.exited <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Log("parent's stderr:\n" + p.stderr.String())
		}
	})
	select {
	case p.pids = <-pids:
	case err := <-p.exited:
		t.Fatalf("parent exited before it was ready: %v\n%s", err, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("parent not ready\n%s", p.stderr.String())
	}
	for _, pid := range p.pids {
		if pid <= 0 {
			t.Fatalf("bad pids %v", p.pids)
		}
	}
	return p
}

// waitAppMain waits until the parent's app_main hook said it is done.
func (p *parentProcess) waitAppMain(t *testing.T) {
	t.Helper()
	if line := testbus.Wait(t, p.lines, "app_main"); line != "APP_MAIN DONE" {
		t.Fatalf("parent printed %q", line)
	}
}

// waitGone waits until the process pid has ended.
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // already gone
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(within.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if n == 0 {
			t.Fatalf("process %d still runs %v later", pid, within)
		}
		return
	}
}

func TestKillingParentLeavesNoModuleProcess(t *testing.T) {
	p := startParent(t, "pair")
	if len(p.pids) != 2 {
		t.Fatalf("pids %v", p.pids)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second)
	}
}

func TestSignalStopsInOrder(t *testing.T) {
	dir := t.TempDir()
	p := startParent(t, "shutdown", envDir+"="+dir)
	notes := filepath.Join(dir, "notes")
	read := func() string { b, _ := os.ReadFile(notes); return string(b) }
	p.waitAppMain(t)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("parent did not stop")
	}
	// app_exit (slow, awaited) ran before the module stopped and its
	// controller's Exit hook ran.
	if got := read(); got != "app_main\napp_exit\nexit\n" {
		t.Fatalf("notes %q", got)
	}
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second)
	}
	if log := p.stderr.String(); !strings.Contains(log, "application stopped") {
		t.Fatalf("no clean stop in the log:\n%s", log)
	}
}
