// Package exampletest runs an example program as a user would, for the
// examples' tests: it builds the program, starts it, and waits for lines
// of its log (standard error) with a deadline.
package exampletest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Program is an example program started by Start.
type Program struct {
	t      testing.TB
	cmd    *exec.Cmd
	lines  chan string
	logged []string
}

// Start builds the package in the test's working directory and starts it
// with args and, added to the test's environment, env. The program is
// killed when the test ends, if it still runs.
func Start(t testing.TB, env []string, args ...string) *Program {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return StartBinary(t, bin, env, args...)
}

// StartBinary starts the program bin as Start does, without building it:
// a test binary running one of its roles, say.
func StartBinary(t testing.TB, bin string, env []string, args ...string) *Program {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	p := &Program{t: t, cmd: cmd, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

// WaitLine returns the next line of the program's log that contains s. It
// fails the test, with the log so far, if the program exits or timeout
// passes first.
func (p *Program) WaitLine(s string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("the program exited while waiting for %q:\n%s", s, p.Log())
			}
			p.logged = append(p.logged, l)
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline:
			p.t.Fatalf("no %q in the program's log:\n%s", s, p.Log())
		}
	}
}

// Log returns the lines of the log read so far.
func (p *Program) Log() string { return strings.Join(p.logged, "\n") }

// Interrupt sends the program SIGINT, as Ctrl-C does.
func (p *Program) Interrupt() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
}

// Exit waits up to timeout for the program to exit, reading the rest of
// its log, and fails the test unless it exited with status 0.
func (p *Program) Exit(timeout time.Duration) {
	p.t.Helper()
	p.readToEnd(timeout)
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("exit: %v\n%s", err, p.Log())
	}
}

// Kill kills the program at once, as a power cut would, and waits for it.
func (p *Program) Kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	if p.lines != nil {
		for l := range p.lines {
			p.logged = append(p.logged, l)
		}
		p.lines = nil
	}
	_ = p.cmd.Wait()
}

// Find returns the first line of the program's log that contains s:
// among the lines read so far, else the next one, as WaitLine.
func (p *Program) Find(s string, timeout time.Duration) string {
	p.t.Helper()
	for _, l := range p.logged {
		if strings.Contains(l, s) {
			return l
		}
	}
	return p.WaitLine(s, timeout)
}

// Fails waits up to timeout for the program to exit, reading the rest of
// its log, and fails the test unless it exited with an error. It returns
// the log.
func (p *Program) Fails(timeout time.Duration) string {
	p.t.Helper()
	p.readToEnd(timeout)
	if err := p.cmd.Wait(); err == nil {
		p.t.Fatalf("the program exited with status 0, want an error:\n%s", p.Log())
	}
	return p.Log()
}

// readToEnd reads the rest of the log, until the program closes it, for up
// to timeout.
func (p *Program) readToEnd(timeout time.Duration) {
	p.t.Helper()
	for deadline := time.After(timeout); p.lines != nil; {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.lines = nil
				continue
			}
			p.logged = append(p.logged, l)
		case <-deadline:
			p.t.Fatalf("the program did not exit:\n%s", p.Log())
		}
	}
}
