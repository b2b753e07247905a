package kervi_test

// Stopping the way hosts stop programs: systemd's stops, a parent killed
// with SIGKILL, a second Ctrl-C, and what is left in the temporary
// directory afterwards. Every test runs the application's parent as a
// program of its own (startParent), with real module processes.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
)

func init() {
	// "service": two modules, "recorder" and "pump", that note what
	// happens to them. app_main and app_exit call both; app_exit is slow,
	// as switching a real device off may be.
	testApps["service"] = func(opts []kervi.Option) (*kervi.Application, error) {
		opts = append(opts,
			kervi.WithAppMain(func(ctx context.Context) error {
				for _, id := range []string{"recorder.note", "pump.note"} {
					if _, err := actions.Call(ctx, id, "app_main"); err != nil {
						return err
					}
				}
				fmt.Println("APP_MAIN DONE")
				return nil
			}),
			kervi.WithAppExit(func(ctx context.Context) error {
				if _, err := actions.Call(ctx, "pump.note", "app_exit"); err != nil {
					return err
				}
				_, err := actions.Call(ctx, "recorder.slow_note", "app_exit")
				return err
			}))
		return kervi.NewApplication([]kervi.Module{recorderModule(), noterModule("pump", false)}, opts...)
	}
	// A long name, with a character a file name cannot have.
	testApps[longAppName] = func(opts []kervi.Option) (*kervi.Application, error) {
		return kervi.NewApplication([]kervi.Module{producerModule(0), consumerModule(0)}, opts...)
	}
	// "shutdown-hang": a module whose stop hook notes "exit", then hangs
	// for ever; its stop timeout is 1 s.
	testApps["shutdown-hang"] = func(opts []kervi.Option) (*kervi.Application, error) {
		opts = append(opts,
			kervi.WithStopTimeout(time.Second),
			kervi.WithAppMain(func(ctx context.Context) error {
				if _, err := actions.Call(ctx, "stuck.note", "app_main"); err != nil {
					return err
				}
				fmt.Println("APP_MAIN DONE")
				return nil
			}))
		return kervi.NewApplication([]kervi.Module{noterModule("stuck", true)}, opts...)
	}
	// "shutdown-slow-exit": the recorder, with an app_exit that notes
	// "app_exit", then takes the whole exit timeout (10 s): a second
	// Ctrl-C comes while it runs.
	testApps["shutdown-slow-exit"] = func(opts []kervi.Option) (*kervi.Application, error) {
		opts = append(opts,
			kervi.WithAppMain(func(ctx context.Context) error {
				if _, err := actions.Call(ctx, "recorder.note", "app_main"); err != nil {
					return err
				}
				fmt.Println("APP_MAIN DONE")
				return nil
			}),
			kervi.WithAppExit(func(ctx context.Context) error {
				if _, err := actions.Call(ctx, "recorder.note", "app_exit"); err != nil {
					return err
				}
				<-ctx.Done()
				return ctx.Err()
			}))
		return kervi.NewApplication([]kervi.Module{recorderModule()}, opts...)
	}
}

// noter is a controller that notes what happens to it in the file
// $KERVI_TEST_DIR/<its name>. Its Exit hook notes "exit" and, if hang is
// set, never returns.
type noter struct {
	*controllers.Controller
	file string
	hang bool
}

func noterModule(name string, hang bool) kervi.Module {
	return kervi.Module{Name: name, Setup: func(ctx context.Context, b *ipc.Bus) error {
		n := &noter{file: filepath.Join(os.Getenv(envDir), name), hang: hang}
		n.Controller = controllers.New(b, name, name, n)
		n.Action("note", n.note)
		return nil
	}}
}

func (n *noter) note(what string) error {
	f, err := os.OpenFile(n.file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, what)
	return err
}

func (n *noter) Exit(ctx context.Context) error {
	err := n.note("exit")
	if n.hang {
		select {} // a device that never answers
	}
	return err
}

// readNotes returns what the modules noted in the file name of dir.
func readNotes(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	return string(b)
}

// waitExit waits for the parent process to end and returns how it ended.
func waitExit(t *testing.T, p *parentProcess, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		return err
	case <-time.After(within):
		t.Fatalf("parent still runs %v later\n%s", within, p.stderr.String())
		return nil
	}
}

// waitStderr waits until the parent's stderr contains text. The parent
// tells of it in no other way, so this polls.
func waitStderr(t *testing.T, p *parentProcess, text string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the parent did not log %q:\n%s", text, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gone reports whether process pid has ended, without waiting.
func gone(t *testing.T, pid int) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	return err == nil && n == 1
}

// checkCleanStop checks what an application stopped in order leaves in the
// parent's log: no module died, none stopped on its own, none restarted.
func checkCleanStop(t *testing.T, p *parentProcess) {
	t.Helper()
	log := p.stderr.String()
	for _, bad := range []string{"module process died", "restarting module", "stopping on its own",
		"ended while the application stops", "app_exit failed"} {
		if strings.Contains(log, bad) {
			t.Errorf("the parent's log says %q:\n%s", bad, log)
		}
	}
	if !strings.Contains(log, "application stopped") {
		t.Errorf("no clean stop in the log:\n%s", log)
	}
}

// TestSystemdStop stops an application as systemd's default stop
// (KillMode=control-group) does: SIGTERM, then SIGCONT, to every process
// of the service's cgroup at once. Module processes have process groups
// of their own, so a group kill would not reproduce it: every pid is
// signalled. systemd is not PID 1 where the tests run, so the test sends
// its signals itself, in both orders a cgroup's list may give.
//
// The application must stop exactly as after one SIGINT to the parent:
// app_exit runs while every module is alive (its calls succeed), then the
// modules stop, each stop hook runs once, nothing is restarted, the parent
// exits 0 and no module process is left.
func TestSystemdStop(t *testing.T) {
	for _, order := range []string{"parent first", "modules first"} {
		t.Run(order, func(t *testing.T) {
			dir := t.TempDir()
			p := startParent(t, "service", envDir+"="+dir)
			if len(p.pids) != 2 {
				t.Fatalf("pids %v", p.pids)
			}
			p.waitAppMain(t)
			cgroup := append([]int{p.cmd.Process.Pid}, p.pids...)
			if order == "modules first" {
				cgroup = append(p.pids[:len(p.pids):len(p.pids)], p.cmd.Process.Pid)
			}
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGCONT} {
				for _, pid := range cgroup {
					if err := syscall.Kill(pid, sig); err != nil {
						t.Fatalf("kill(%d, %v): %v", pid, sig, err)
					}
				}
			}
			if err := waitExit(t, p, 30*time.Second); err != nil {
				t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
			}
			for _, pid := range p.pids {
				waitGone(t, pid, 10*time.Second)
			}
			checkStoppedInOrder(t, dir, p)
		})
	}
}

// checkStoppedInOrder checks that the "service" app stopped as after one
// SIGINT: app_exit ran with both modules alive, each stop hook once, and
// nothing died or restarted.
func checkStoppedInOrder(t *testing.T, dir string, p *parentProcess) {
	t.Helper()
	for _, module := range []string{"notes", "pump"} {
		if got := readNotes(dir, module); got != "app_main\napp_exit\nexit\n" {
			t.Errorf("%s noted %q", module, got)
		}
	}
	checkCleanStop(t, p)
}

// TestSystemdMixedStop stops an application as systemd does with
// KillMode=mixed: SIGTERM (and SIGCONT) to the main process only, then,
// once it exited, SIGKILL to whatever is left of the service. Nothing must
// be left by then: the parent stopped every module in order. (systemd is
// not PID 1 where the tests run: the test sends its signals.)
func TestSystemdMixedStop(t *testing.T) {
	dir := t.TempDir()
	p := startParent(t, "service", envDir+"="+dir)
	p.waitAppMain(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGCONT} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
	}
	for _, pid := range p.pids {
		if !gone(t, pid) {
			t.Errorf("module process %d still runs after the parent exited", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL) // what systemd would do
		}
	}
	checkStoppedInOrder(t, dir, p)
}

// TestKilledParentModulesRunStopHooks kills the parent with SIGKILL: its
// module process runs its stop hooks (the controller's Exit), within its
// stop timeout, and exits.
func TestKilledParentModulesRunStopHooks(t *testing.T) {
	dir := t.TempDir()
	p := startParent(t, "shutdown", envDir+"="+dir)
	p.waitAppMain(t)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second+10*time.Second) // the default stop timeout, and a margin
	}
	if got := readNotes(dir, "notes"); got != "app_main\nexit\n" {
		t.Fatalf("notes %q: the stop hook did not run once", got)
	}
}

// TestKilledParentHungStopHook kills the parent of a module whose stop
// hook hangs: the module's own watchdog ends it after its stop timeout
// (1 s), plus a margin.
func TestKilledParentHungStopHook(t *testing.T) {
	dir := t.TempDir()
	p := startParent(t, "shutdown-hang", envDir+"="+dir)
	p.waitAppMain(t)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	for _, pid := range p.pids {
		waitGone(t, pid, time.Second+8*time.Second)
	}
	if got := readNotes(dir, "stuck"); got != "app_main\nexit\n" {
		t.Fatalf("notes %q: the stop hook did not run once", got)
	}
}

// TestSecondInterruptModulesStillStop presses Ctrl-C twice: the second
// comes while app_exit runs, and the parent leaves at once (by the
// signal). Its module process still runs its stop hook, once, and exits.
func TestSecondInterruptModulesStillStop(t *testing.T) {
	dir := t.TempDir()
	p := startParent(t, "shutdown-slow-exit", envDir+"="+dir)
	p.waitAppMain(t)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, p, "stopping application")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// app_exit takes the exit timeout (10 s): a parent that left before
	// then left because of the second signal.
	err := waitExit(t, p, 8*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("parent ended with %v, not by the second SIGINT\n%s", err, p.stderr.String())
	}
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second+10*time.Second)
	}
	got := readNotes(dir, "notes")
	if strings.Count(got, "exit\n")-strings.Count(got, "app_exit\n") != 1 || !strings.HasSuffix(got, "\nexit\n") {
		t.Fatalf("notes %q: the stop hook did not run once", got)
	}
}

// shortTempDir returns a new directory for the test, removed at its end,
// with a short path: a module's socket is three levels down (kervi-…,
// plugin-dir…, plugin…), and a unix socket's path has at most 107 bytes,
// which t.TempDir's long names would exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// socketDirs returns the names of the kervi-* entries in dir.
func socketDirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kervi-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestKilledParentLeavesNoSocketDir kills the parent (-9) of an
// application whose temporary directory belongs to the test: once its
// module processes are gone, none of its socket directories is left.
func TestKilledParentLeavesNoSocketDir(t *testing.T) {
	tmp := shortTempDir(t)
	p := startParent(t, "pair", "TMPDIR="+tmp)
	if dirs := socketDirs(t, tmp); len(dirs) != 1 || !strings.HasPrefix(dirs[0], "kervi-pair-") {
		t.Fatalf("socket directories in TMPDIR while the application runs: %v", dirs)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second+10*time.Second)
	}
	if dirs := socketDirs(t, tmp); len(dirs) != 0 {
		t.Fatalf("left in TMPDIR: %v", dirs)
	}
}

// TestRunSweepsSocketDirsOfDeadParents leaves two socket directories in
// TMPDIR, named as an earlier parent's: one whose pid no longer runs, one
// whose pid runs. The next Run removes the first and leaves the second.
func TestRunSweepsSocketDirsOfDeadParents(t *testing.T) {
	tmp := shortTempDir(t)
	// A pid that ran and no longer does.
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := ended.Process.Pid
	if err := syscall.Kill(deadPID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Skipf("pid %d is in use again (%v)", deadPID, err)
	}
	dead := filepath.Join(tmp, "kervi-pair-"+strconv.Itoa(deadPID)+"-123456789")
	live := filepath.Join(tmp, "kervi-pair-"+strconv.Itoa(os.Getpid())+"-987654321")
	for _, d := range []string{dead, live} {
		if err := os.MkdirAll(filepath.Join(d, "plugin-dir1"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := startParent(t, "pair", "TMPDIR="+tmp)
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory of a parent that is gone is still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the directory of a running parent was removed: %v", err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
	}
	for _, pid := range p.pids {
		waitGone(t, pid, 10*time.Second)
	}
	if dirs := socketDirs(t, tmp); len(dirs) != 1 || dirs[0] != filepath.Base(live) {
		t.Fatalf("socket directories after the stop: %v", dirs)
	}
}

const longAppName = "greenhouse/north-wing-climate-controller"

// TestLongAppNameStarts runs an application whose name is long and has a
// slash: its socket directory's name keeps a short, clean part of it, so
// that the modules' sockets fit in a unix socket's path.
func TestLongAppNameStarts(t *testing.T) {
	tmp := shortTempDir(t)
	p := startParent(t, longAppName, "TMPDIR="+tmp)
	if dirs := socketDirs(t, tmp); len(dirs) != 1 || !strings.HasPrefix(dirs[0], "kervi-greenhousenorth-") {
		t.Fatalf("socket directories in TMPDIR while the application runs: %v", dirs)
	}
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("parent exited with %v\n%s", err, p.stderr.String())
	}
	if dirs := socketDirs(t, tmp); len(dirs) != 0 {
		t.Fatalf("left in TMPDIR: %v", dirs)
	}
}

// TestLongTMPDIRIsAnError runs an application in a temporary directory
// too long for its modules' sockets: Run fails at once and says so.
func TestLongTMPDIRIsAnError(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), strings.Repeat("d", 60))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	err := runToEnd(t, "pair")
	if err == nil || !strings.Contains(err.Error(), "set TMPDIR to a shorter directory") {
		t.Fatalf("Run returned %v", err)
	}
	if dirs := socketDirs(t, tmp); len(dirs) != 0 {
		t.Fatalf("left in TMPDIR: %v", dirs)
	}
}
