package ipc

import (
	"context"
	"testing"
)

// While a process runs its app-start hooks, a request of another goroutine
// for an id nobody owns yet waits for the application to be ready, as
// before and after the hooks; a hook's own request does not (the
// application's readiness waits for the hook).
func TestMayWaitForDuringAppStart(t *testing.T) {
	unknown := newError(CodeUnknownID, "nobody.yet", "", "no module owns %q", "nobody.yet")
	hook := context.WithValue(context.Background(), startHookKey{}, true)
	for _, tc := range []struct {
		phase      int32
		ctx        context.Context
		name       string
		wait, done bool
	}{
		{phaseSetup, context.Background(), "setup", false, false},
		{phaseReady, context.Background(), "ready", true, false},
		{phaseStarting, context.Background(), "starting, another goroutine", true, false},
		{phaseStarting, hook, "starting, a hook", false, false},
		{phaseStarted, hook, "started", true, false},
		{phaseStarted, context.Background(), "application ready", false, true},
	} {
		b := &Bus{}
		b.phase.Store(tc.phase)
		b.appReady.Store(tc.done)
		if got := b.mayWaitFor(tc.ctx, unknown); got != tc.wait {
			t.Errorf("%s: mayWaitFor = %v, want %v", tc.name, got, tc.wait)
		}
	}
	if (&Bus{}).mayWaitFor(context.Background(), newError(CodeUnknownID, "a.b", "owner", "not a value")) {
		t.Error("an owner's answer (it names its module) must not wait")
	}
}
