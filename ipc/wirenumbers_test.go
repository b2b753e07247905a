package ipc

import (
	"testing"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// The numbers of value types and error codes are the wire's.
func TestNumbersAreTheWires(t *testing.T) {
	types := map[Type]kervipb.ValueType{
		TypeNumber: kervipb.ValueType_VALUE_TYPE_NUMBER, TypeBool: kervipb.ValueType_VALUE_TYPE_BOOL,
		TypeString: kervipb.ValueType_VALUE_TYPE_STRING, TypeEnum: kervipb.ValueType_VALUE_TYPE_ENUM,
		TypeDateTime: kervipb.ValueType_VALUE_TYPE_DATETIME, TypeColor: kervipb.ValueType_VALUE_TYPE_COLOR,
	}
	for ty, w := range types {
		if int32(ty) != int32(w) {
			t.Errorf("%s is %d, the wire's %s %d", ty, ty, w, w)
		}
	}
	codes := map[Code]kervipb.Code{
		CodeUnknownID: kervipb.Code_CODE_UNKNOWN_ID, CodeBadArgs: kervipb.Code_CODE_BAD_ARGS,
		CodeActionFailed: kervipb.Code_CODE_ACTION_FAILED, CodePanic: kervipb.Code_CODE_PANIC,
		CodeOwnerGone: kervipb.Code_CODE_OWNER_GONE, CodeCanceled: kervipb.Code_CODE_CANCELED,
		CodeDeadlineExceeded: kervipb.Code_CODE_DEADLINE_EXCEEDED, CodeBusy: kervipb.Code_CODE_BUSY,
		CodeOutOfRange: kervipb.Code_CODE_OUT_OF_RANGE, CodeWrongType: kervipb.Code_CODE_WRONG_TYPE,
		CodeNotSettable: kervipb.Code_CODE_NOT_SETTABLE, CodeDuplicateID: kervipb.Code_CODE_DUPLICATE_ID,
		CodeSetupFailed: kervipb.Code_CODE_SETUP_FAILED, CodeTooLarge: kervipb.Code_CODE_TOO_LARGE,
		CodeInvalidID: kervipb.Code_CODE_INVALID_ID, CodeMalformed: kervipb.Code_CODE_MALFORMED,
		CodeNotReady: kervipb.Code_CODE_NOT_READY, CodeNoValue: kervipb.Code_CODE_NO_VALUE,
	}
	for c, w := range codes {
		if int32(c) != int32(w) {
			t.Errorf("code %d is the wire's %s %d", c, w, w)
		}
	}
	if len(codes) != len(kervipb.Code_name)-1 {
		t.Errorf("%d codes, the wire has %d", len(codes), len(kervipb.Code_name)-1)
	}
}
