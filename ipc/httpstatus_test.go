package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kervi/kervi-go/ipc"
)

func TestHTTPStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{ipc.Errorf(ipc.CodeUnknownID, "no module owns %q", "x"), 404},
		{fmt.Errorf("get: %w", ipc.ErrNoValue), 404},
		{ipc.Errorf(ipc.CodeOutOfRange, "45 is outside [5, 30]"), 400},
		{ipc.Errorf(ipc.CodeBadArgs, "argument 1"), 400},
		{ipc.Errorf(ipc.CodeNotSettable, "an output"), 400},
		{ipc.Errorf(ipc.CodeOwnerGone, "module stopped"), 503},
		{ipc.Errorf(ipc.CodeBusy, "too many calls"), 503},
		{ipc.Errorf(ipc.CodeDeadlineExceeded, "deadline"), 504},
		{context.DeadlineExceeded, 504},
		{ipc.Errorf(ipc.CodeActionFailed, "pump jammed"), 502},
		{errors.New("anything else"), 502},
	} {
		if got := ipc.HTTPStatus(tc.err); got != tc.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
