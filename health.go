package kervi

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Module health: values the parent process owns for each module, beside
// its state value, so that any process can follow how the modules fare
// (SubscribePattern("kervi.module.>", ...)), and the action "kervi.modules"
// for a one-shot read.

// ModulesID is the id of the parent's action that returns the status of
// every module ([]ModuleStatus, in the order given to NewApplication):
//
//	sts, err := actions.CallAs[[]kervi.ModuleStatus](ctx, kervi.ModulesID)
const ModulesID = "kervi.modules"

// ModuleHealthID returns the id of the sensor the parent process announces
// for the named module: the Parent, in the catalogue, of the module's state
// value (ModuleStateID) and of its health values (ModuleHealthValueID). A
// sensor owns no content; it groups the values for observers.
func ModuleHealthID(module string) string { return ModuleStateID(module) + ".health" }

// The health values of a module, beside its state value; their ids are
// ModuleHealthValueID(module, one of these), such as
// "kervi.module.sensors.restarts". The parent process owns and writes them;
// each mirrors a field of ModuleStatus.
const (
	// HealthRestarts is a number: ModuleStatus.Restarts.
	HealthRestarts = "restarts"
	// HealthSince is a datetime: ModuleStatus.Since, when the module
	// entered its state. A module's uptime is the time since Since while
	// its state is "ready".
	HealthSince = "since"
	// HealthPID is a number: ModuleStatus.PID, 0 when the module has no
	// process.
	HealthPID = "pid"
	// HealthLastExit is a string: ModuleStatus.LastExit, how the module's
	// last process ended, or why its setup failed on a restart.
	HealthLastExit = "last_exit"
	// HealthBehind is a bool: ModuleStatus.Behind.
	HealthBehind = "behind"
	// HealthCoalesced is a number: ModuleStatus.Coalesced.
	HealthCoalesced = "coalesced"
)

// ModuleHealthValueID returns the id of one of a module's health values
// (HealthRestarts, HealthSince, ...): "kervi.module.<module>.<value>".
func ModuleHealthValueID(module, value string) string { return ModuleStateID(module) + "." + value }

// moduleHealth holds the values that publish a module's status.
type moduleHealth struct {
	state     *values.String
	restarts  *values.Number
	since     *values.DateTime
	pid       *values.Number
	lastExit  *values.String
	behind    *values.Bool
	coalesced *values.Number
}

// newModuleHealth announces a module's health sensor and makes its values
// on the parent's bus.
func newModuleHealth(b *ipc.Bus, module string) *moduleHealth {
	parent := ModuleHealthID(module)
	if err := b.Announce(ipc.Description{ID: parent, Kind: ipc.KindSensor, Name: "Module " + module}); err != nil {
		b.Fail(err)
	}
	id := func(v string) string { return ModuleHealthValueID(module, v) }
	p := values.Parent(parent)
	return &moduleHealth{
		state: values.NewString(b, ModuleStateID(module), module, values.Output(), p,
			values.Initial(StateStarting.String())),
		restarts: values.NewNumber(b, id(HealthRestarts), module+" restarts", values.Output(), p,
			values.Min(0), values.Unit("restarts"), values.Initial(0.0)),
		since: values.NewDateTime(b, id(HealthSince), module+" in its state since", values.Output(), p,
			values.Initial(time.Now())),
		pid: values.NewNumber(b, id(HealthPID), module+" process id", values.Output(), p,
			values.Range(0, 1<<31-1), values.Initial(0.0)),
		lastExit: values.NewString(b, id(HealthLastExit), module+" last exit", values.Output(), p, values.Initial("")),
		behind:   values.NewBool(b, id(HealthBehind), module+" behind its events", values.Output(), p, values.Initial(false)),
		coalesced: values.NewNumber(b, id(HealthCoalesced), module+" coalesced events", values.Output(), p,
			values.Min(0), values.Unit("events"), values.Initial(0.0)),
	}
}

// publish sets the values to st: the details first, the state last, so
// that a follower that sees the state change finds the details current.
// Unchanged details are not published again.
func (h *moduleHealth) publish(st ModuleStatus, stateChanged bool) error {
	var first error
	set := func(err error) {
		if first == nil {
			first = err
		}
	}
	if v := float64(st.Restarts); h.restarts.Value() != v {
		set(h.restarts.Set(v))
	}
	if v := float64(st.PID); h.pid.Value() != v {
		set(h.pid.Set(v))
	}
	if h.lastExit.Value() != st.LastExit {
		set(h.lastExit.Set(st.LastExit))
	}
	if v := float64(st.Coalesced); h.coalesced.Value() != v {
		set(h.coalesced.Set(v))
	}
	if h.behind.Value() != st.Behind {
		set(h.behind.Set(st.Behind))
	}
	if stateChanged {
		set(h.since.Set(st.Since))
		set(h.state.Set(st.State.String()))
	}
	return first
}

// registerModuleActions registers "kervi.modules" on the parent's bus.
func (a *Application) registerModuleActions(b *ipc.Bus) {
	actions.Register(b, ModulesID, func(context.Context) []ModuleStatus { return a.Modules() },
		actions.Name("Module statuses"), actions.WithMode(actions.Concurrent))
}

// publishHealth publishes a module's status on its health values; the
// caller holds stateMu.
func (a *Application) publishHealth(st ModuleStatus, stateChanged bool) {
	a.mu.Lock()
	h := a.health[st.Name]
	a.mu.Unlock()
	if h == nil {
		return
	}
	if err := h.publish(st, stateChanged); err != nil {
		a.log.Warn("module health values", "module", st.Name, "error", fmt.Sprint(err))
	}
}
