package actuators_test

// Actuators across real processes. The test binary is also the binary of
// the module processes (TestMain serves a module when kervi started the
// binary as one) and, with $KERVI_ACT_ROLE=parent, of an application's
// parent process that a test can kill. The module "hw" drives fake
// hardware that appends each write, as a line, to the file
// $KERVI_ACT_DIR/hw.log, which the tests read from outside the module
// process.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actuators"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

const (
	envRole = "KERVI_ACT_ROLE"
	envDir  = "KERVI_ACT_DIR"
)

func TestMain(m *testing.M) {
	if kervi.IsModuleProcess() {
		app, err := newApp(os.Getenv(envDir))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		app.Run(context.Background()) // never returns in a module process
	}
	if os.Getenv(envRole) == "parent" {
		app, err := newApp(os.Getenv(envDir))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		go func() {
			<-app.Ready()
			var pids []string
			for _, s := range app.Modules() {
				pids = append(pids, fmt.Sprint(s.PID))
			}
			fmt.Println("PIDS " + strings.Join(pids, " "))
		}()
		app.Main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fileHW appends "<id>=<value>" to a file for each write.
type fileHW struct{ path, id string }

func (f fileHW) note(v any) error {
	file, err := os.OpenFile(f.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(file, "%s=%v\n", f.id, v); err != nil {
		file.Close()
		return err
	}
	return file.Close()
}

func (f fileHW) WriteBool(_ context.Context, v bool) error      { return f.note(v) }
func (f fileHW) WriteNumber(_ context.Context, v float64) error { return f.note(v) }

// newApp returns the application: module "hw" owns a relay and a PWM
// output; module "ctl", in another process, switches them on once the
// application is ready.
func newApp(dir string) (*kervi.Application, error) {
	log := filepath.Join(dir, "hw.log")
	hw := kervi.Module{Name: "hw", Setup: func(ctx context.Context, b *ipc.Bus) error {
		actuators.NewBool(b, "relay", "Relay", fileHW{log, "relay"}, actuators.Safe(false))
		actuators.NewNumber(b, "pwm", "PWM", fileHW{log, "pwm"}, actuators.Safe(0), actuators.Initial(10),
			actuators.Values(values.Unit("%"), values.Range(0, 100)))
		return nil
	}}
	ctl := kervi.Module{Name: "ctl", Setup: func(ctx context.Context, b *ipc.Bus) error {
		b.OnAppReady(func(ctx context.Context) {
			if err := b.Set(ctx, "relay", true); err != nil {
				b.Logger().Error("set relay", "error", err)
			}
			if err := b.Set(ctx, "pwm", 42.0); err != nil {
				b.Logger().Error("set pwm", "error", err)
			}
		})
		return nil
	}}
	return kervi.NewApplication([]kervi.Module{hw, ctl},
		kervi.WithName("actuators-test"),
		kervi.WithModuleEnv(envDir+"="+dir),
		kervi.WithStopTimeout(5*time.Second))
}

// hwLog returns the writes the fake hardware noted so far.
func hwLog(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "hw.log"))
	return strings.Fields(string(b))
}

// waitLog waits until the writes noted end with want (in order, each the
// last write of its id), and returns them.
func waitLog(t *testing.T, dir string, within time.Duration, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := hwLog(dir)
		if endsWith(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hardware's writes are %q, want them to end with %q", got, want)
		}
		time.Sleep(5 * time.Millisecond) // polling a file: no event to wait for
	}
}

// endsWith reports whether the last write of each id in want is as in
// want.
func endsWith(got, want []string) bool {
	last := map[string]string{}
	for _, w := range got {
		id, _, _ := strings.Cut(w, "=")
		last[id] = w
	}
	for _, w := range want {
		id, _, _ := strings.Cut(w, "=")
		if last[id] != w {
			return false
		}
	}
	return true
}

// TestWritesFromOtherProcesses: the module "ctl" and the application's
// own process write the actuators of the module "hw"; its fake hardware
// takes every write; the application's stop puts it in the safe state.
func TestWritesFromOtherProcesses(t *testing.T) {
	testbus.SkipIfCannotExecSelf(t)
	dir := t.TempDir()
	app, err := newApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- app.Run(ctx) }()
	defer func() {
		cancel()
		testbus.Wait(t, errc, "Run to return")
	}()
	if err := app.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	got := waitLog(t, dir, 10*time.Second, "relay=true", "pwm=42") // from "ctl"
	if i, j := slices.Index(got, "pwm=10"), slices.Index(got, "pwm=42"); i < 0 || i > j {
		t.Fatalf("the hardware did not start in Initial: %q", got)
	}
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	defer scancel()
	if err := app.Bus().Set(sctx, "relay", false); err != nil {
		t.Fatal(err)
	}
	if err := app.Bus().Set(sctx, "pwm", 99.5); err != nil {
		t.Fatal(err)
	}
	waitLog(t, dir, 10*time.Second, "relay=false", "pwm=99.5")
	cancel()
	if err := testbus.Wait(t, errc, "Run to return"); err != nil {
		t.Fatal(err)
	}
	errc <- nil
	if got := hwLog(dir); !endsWith(got, []string{"relay=false", "pwm=0"}) || got[len(got)-1] != "pwm=0" && got[len(got)-1] != "relay=false" {
		t.Fatalf("after the stop the hardware's writes are %q, want the safe states last", got)
	}
}

// TestSafeStateWhenParentKilled kills the application's process with
// SIGKILL: the module process of "hw" survives it, runs its stop hooks and
// puts the hardware in the safe state.
func TestSafeStateWhenParentKilled(t *testing.T) {
	testbus.SkipIfCannotExecSelf(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=parent", envDir+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Log("parent's stderr:\n" + stderr.String())
		}
	}()
	pidc := make(chan []int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "PIDS "); ok {
				var pids []int
				for _, f := range strings.Fields(rest) {
					var p int
					fmt.Sscan(f, &p)
					pids = append(pids, p)
				}
				pidc <- pids
			}
		}
	}()
	pids := testbus.Wait(t, pidc, "the application to be ready")
	waitLog(t, dir, 10*time.Second, "relay=true", "pwm=42")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := waitLog(t, dir, 15*time.Second, "relay=false", "pwm=0")
	t.Logf("writes: %q", got)
	for _, pid := range pids { // the module processes exit after their stop hooks
		deadline := time.Now().Add(15 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Fatalf("module process %d still runs", pid)
			}
			time.Sleep(5 * time.Millisecond) // no event tells a process's end to a non-parent without pidfd
		}
	}
}
