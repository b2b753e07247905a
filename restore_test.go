package kervi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

func init() {
	// "restore": module "greenhouse" owns the controller "vent", whose field
	// moves counts the vent's moves and is rebuilt from its outputs after a
	// restart; and a private action. "argv" tells its command line.
	testApps["restore"] = func(opts []kervi.Option) (*kervi.Application, error) {
		greenhouse := kervi.Module{Name: "greenhouse", Setup: func(ctx context.Context, b *ipc.Bus) error {
			newVent(b)
			return nil
		}}
		argv := kervi.Module{Name: "argv", Setup: func(ctx context.Context, b *ipc.Bus) error {
			actions.Register(b, "argv.args", func() []string { return os.Args[1:] })
			// relay calls id from this process and tells how it went.
			actions.Register(b, "argv.relay", func(ctx context.Context, id string) map[string]any {
				_, err := actions.Call(ctx, id)
				return map[string]any{"unknown": errors.Is(err, ipc.ErrUnknownID), "error": fmt.Sprint(err)}
			}, actions.WithMode(actions.Concurrent))
			return nil
		}}
		return kervi.NewApplication([]kervi.Module{greenhouse, argv}, opts...)
	}
}

// vent opens a greenhouse vent. Its own field moves is derived from its
// output "vent.moves"; after a restart, Restore rebuilds it.
type vent struct {
	*controllers.Controller
	opening, moveCount *values.Number
	moves              int  // the controller's own state
	restores           int  // Restore calls in this process
	restoredFirst      bool // Restore had run when Start ran
}

func newVent(b *ipc.Bus) *vent {
	v := &vent{}
	v.Controller = controllers.New(b, "vent", "Vent", v)
	v.opening = v.Outputs().Number("opening", "Opening", values.Unit("%"), values.Range(0, 100), values.Initial(0))
	v.moveCount = v.Outputs().Number("moves", "Moves", values.Initial(0))
	v.Action("open", func(pct float64) error {
		v.moves++
		if err := v.moveCount.Set(float64(v.moves)); err != nil {
			return err
		}
		return v.opening.Set(pct)
	})
	v.Action("state", func() map[string]any {
		return map[string]any{"moves": v.moves, "restores": v.restores, "restarted": v.Restarted(),
			"restored_first": v.restoredFirst, "opening": v.opening.Value(), "pid": os.Getpid()}
	})
	// calibrate is private: the greenhouse module calls it, nobody else.
	actions.Register(b, "vent.calibrate", func() string { return "calibrated" }, actions.Private())
	v.Action("self_calibrate", func(ctx context.Context) (any, error) {
		return actions.Call(ctx, "vent.calibrate")
	}, actions.WithMode(actions.Concurrent))
	return v
}

// Restore rebuilds the controller's own fields from its restored outputs.
func (v *vent) Restore(ctx context.Context) error {
	v.restores++
	v.moves = int(v.moveCount.Value())
	return nil
}

func (v *vent) Start(ctx context.Context) error {
	v.restoredFirst = v.restores > 0
	return nil
}

// After a restart of its module process, a controller's outputs hold their
// restored content, and Restore rebuilds its own fields from them, once,
// before Start.
func TestControllerRestoresItsFieldsAfterARestart(t *testing.T) {
	r := startApp(t, "restore")
	state := func() map[string]any { return r.call(t, "vent.state").(map[string]any) }
	s := state()
	if s["restarted"] != false || s["restores"] != int64(0) {
		t.Fatalf("first start: %v", s)
	}
	r.call(t, "vent.open", 30)
	r.call(t, "vent.open", 55)
	if s = state(); s["moves"] != int64(2) || s["opening"] != 55.0 {
		t.Fatalf("before the kill: %v", s)
	}
	pid := s["pid"].(int64)
	if err := syscall.Kill(int(pid), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.waitState(t, "greenhouse", kervi.StateRestarting)
	r.waitState(t, "greenhouse", kervi.StateReady)
	s = state()
	if s["pid"] == pid {
		t.Fatalf("not restarted: %v", s)
	}
	if s["restarted"] != true || s["restores"] != int64(1) || s["restored_first"] != true {
		t.Fatalf("after the restart: %v, want Restore called once, before Start", s)
	}
	if s["opening"] != 55.0 || s["moves"] != int64(2) {
		t.Fatalf("after the restart: %v, want the opening restored and the moves rebuilt", s)
	}
	r.call(t, "vent.open", 60)
	if s = state(); s["moves"] != int64(3) {
		t.Fatalf("the rebuilt field does not go on: %v", s)
	}
}

// A private action is called by id in its own module process, and is
// unknown to the others.
func TestPrivateActionAcrossProcesses(t *testing.T) {
	r := startApp(t, "restore")
	if got := r.call(t, "vent.self_calibrate"); got != "calibrated" {
		t.Fatalf("a call from the action's own process: %v", got)
	}
	_, err := r.app.Bus().Call(r.ctx, "vent.calibrate")
	if !errors.Is(err, ipc.ErrUnknownID) {
		t.Fatalf("a call from the parent process: %v, want ErrUnknownID", err)
	}
	// From another module process, through the hub: a public action of
	// the same module answers, the private one is unknown.
	if got := r.call(t, "argv.relay", "vent.state").(map[string]any); got["error"] != "<nil>" {
		t.Fatalf("a public action from another module process: %v", got)
	}
	got := r.call(t, "argv.relay", "vent.calibrate").(map[string]any)
	if got["unknown"] != true || !strings.Contains(got["error"].(string), `"vent.calibrate"`) {
		t.Fatalf("a call from another module process: %v, want ErrUnknownID", got)
	}
}

// Module processes run the program's binary with its command-line
// arguments: flags parsed in main reach them.
func TestModulesGetTheCommandLine(t *testing.T) {
	r := startApp(t, "restore")
	got := r.call(t, "argv.args").([]any)
	var args []string
	for _, a := range got {
		args = append(args, a.(string))
	}
	if !slices.Equal(args, os.Args[1:]) {
		t.Fatalf("module process arguments %q, want the parent's %q", args, os.Args[1:])
	}
}
