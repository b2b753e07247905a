package ipc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Sentinel errors. Errors from the bus match them with errors.Is, wherever
// in the application they arose.
var (
	// ErrUnknownID: no process owns the id a call, a set or a lookup named.
	ErrUnknownID = errors.New("kervi: unknown id")
	// ErrInvalidID: an id is empty, too long, or holds characters ids may
	// not hold (see ValidateID).
	ErrInvalidID = errors.New("kervi: invalid id")
	// ErrTooLarge: a message (a value's content, an action's arguments or
	// result) is larger than the application's MaxMessageSize.
	ErrTooLarge = errors.New("kervi: message too large")
	// ErrMalformed: a message from another process could not be decoded.
	ErrMalformed = errors.New("kervi: malformed message")
	// ErrNotReady: a call or set from a module's setup to a module that has
	// not started yet. A setup cannot wait for the application to be ready
	// (the application waits for the setup); call other modules from a
	// controller's Start, an OnAppReady callback or later instead.
	ErrNotReady = errors.New("kervi: module not started")
	// ErrDuplicateID: two components claimed the same id.
	ErrDuplicateID = errors.New("kervi: duplicate id")
	// ErrBadArgs: a call's arguments do not fit the action.
	ErrBadArgs = errors.New("kervi: bad arguments")
	// ErrActionFailed: the action returned an error.
	ErrActionFailed = errors.New("kervi: action failed")
	// ErrPanic: the action panicked.
	ErrPanic = errors.New("kervi: action panicked")
	// ErrOwnerGone: the process owning the id stopped or crashed.
	ErrOwnerGone = errors.New("kervi: owner process gone")
	// ErrBusy: the action is already running and refuses concurrent calls.
	ErrBusy = errors.New("kervi: action busy")
	// ErrOutOfRange: a value write lies outside the value's range, or names
	// an option the value does not have.
	ErrOutOfRange = errors.New("kervi: value out of range")
	// ErrWrongType: a value write has the wrong type.
	ErrWrongType = errors.New("kervi: wrong value type")
	// ErrNotSettable: the value is an output; only its owner sets it.
	ErrNotSettable = errors.New("kervi: value not settable")
	// ErrClosed: the bus stopped.
	ErrClosed = errors.New("kervi: bus closed")
	// ErrNoValue: the value exists but has no content yet (it was created
	// without an initial content and never set).
	ErrNoValue = errors.New("kervi: value has no content yet")
	// ErrNoBus: a context given to a kervi call carries no bus.
	ErrNoBus = errors.New("kervi: context carries no bus (use a context kervi gave you, or ipc.NewContext)")
)

// Code classifies an Error; it travels between processes.
type Code int32

// The codes, numbered as on the wire (Code in proto/kervi.proto).
const (
	CodeUnknownID        Code = 1
	CodeBadArgs          Code = 2
	CodeActionFailed     Code = 3
	CodePanic            Code = 4
	CodeOwnerGone        Code = 5
	CodeCanceled         Code = 6
	CodeDeadlineExceeded Code = 7
	CodeBusy             Code = 8
	CodeOutOfRange       Code = 9
	CodeWrongType        Code = 10
	CodeNotSettable      Code = 11
	CodeDuplicateID      Code = 12
	CodeSetupFailed      Code = 13
	CodeTooLarge         Code = 14
	CodeInvalidID        Code = 15
	CodeMalformed        Code = 16
	CodeNotReady         Code = 17
	CodeNoValue          Code = 18
)

var codeSentinels = map[Code]error{
	CodeUnknownID:        ErrUnknownID,
	CodeBadArgs:          ErrBadArgs,
	CodeActionFailed:     ErrActionFailed,
	CodePanic:            ErrPanic,
	CodeOwnerGone:        ErrOwnerGone,
	CodeCanceled:         context.Canceled,
	CodeDeadlineExceeded: context.DeadlineExceeded,
	CodeBusy:             ErrBusy,
	CodeOutOfRange:       ErrOutOfRange,
	CodeWrongType:        ErrWrongType,
	CodeNotSettable:      ErrNotSettable,
	CodeDuplicateID:      ErrDuplicateID,
	CodeTooLarge:         ErrTooLarge,
	CodeInvalidID:        ErrInvalidID,
	CodeMalformed:        ErrMalformed,
	CodeNotReady:         ErrNotReady,
	CodeNoValue:          ErrNoValue,
}

// Error is an error reported by the bus for a call or a set: what went
// wrong (Code), with which id, in which module, and the details. It matches
// the sentinel of its code with errors.Is, and context.Canceled or
// context.DeadlineExceeded for those codes.
//
// An action's own error crosses processes as its message only: callers see
// Code CodeActionFailed and Msg, not the original error value. This holds in
// the same process too, so code behaves alike in either mode. An action
// that returns the error of a call it made itself fails with
// CodeActionFailed too (with the inner error's message), not with the inner
// call's code: the action exists, it failed. Only the context errors keep
// their meaning, and an error made with Errorf keeps its code. The message
// is made valid UTF-8, and one over 64 KiB is cut (ending with its length
// in bytes), so that any error can be sent.
type Error struct {
	Code   Code
	ID     string
	Module string
	Msg    string
}

// Error implements error.
func (e *Error) Error() string {
	s := "kervi: " + e.Msg
	if e.ID != "" {
		s = "kervi: " + quoteID(e.ID) + ": " + e.Msg
	}
	if e.Module != "" {
		s += " (module " + strconv.Quote(e.Module) + ")"
	}
	return s
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := codeSentinels[e.Code]
	return ok && s == target
}

// codeOf classifies err for the wire.
func codeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	}
	for code, s := range codeSentinels {
		if code != CodeActionFailed && errors.Is(err, s) {
			return code
		}
	}
	return CodeActionFailed
}

// Errorf returns an error with the given message that matches the
// sentinel of code (errors.Is), without repeating the sentinel's text.
func Errorf(code Code, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

type codedError struct {
	code Code
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func (e *codedError) Is(target error) bool {
	s, ok := codeSentinels[e.code]
	return ok && s == target
}

// toWire converts err, raised by module while serving id, for the wire.
// Its text is made valid UTF-8 (user code may put anything in an error).
func toWire(module string, err error) *kervipb.Error {
	var e *Error
	if errors.As(err, &e) && err == error(e) {
		m := e.Module
		if m == "" {
			m = module
		}
		return &kervipb.Error{Code: kervipb.Code(e.Code), Message: validText(e.Msg), Module: validText(m)}
	}
	return &kervipb.Error{Code: kervipb.Code(codeOf(err)), Message: validText(err.Error()), Module: module}
}

// actionError classifies the error an action's handler returned: context
// errors keep their code, an error made with Errorf keeps its code, and
// everything else, an error from a call the action made included, is
// CodeActionFailed with the error's text.
func actionError(id, module string, err error) *Error {
	code := CodeActionFailed
	var ce *codedError
	var e *Error
	switch {
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeDeadlineExceeded
	case errors.As(err, &e):
		// The error of a call the action made: the action failed.
	case errors.As(err, &ce):
		code = ce.code
	default:
		for c, s := range codeSentinels {
			if c != CodeActionFailed && errors.Is(err, s) {
				code = c
				break
			}
		}
	}
	return &Error{Code: code, ID: id, Module: module, Msg: validText(err.Error())}
}

// fromWire turns a wire error about id into an *Error.
func fromWire(id string, w *kervipb.Error) error {
	return &Error{Code: Code(w.Code), ID: id, Module: w.Module, Msg: w.Message}
}

// newError builds an *Error.
func newError(code Code, id, module, format string, args ...any) *Error {
	return &Error{Code: code, ID: id, Module: module, Msg: fmt.Sprintf(format, args...)}
}

// quoteID quotes an id for an error message, shortened if it is long (an
// invalid id may be megabytes long).
func quoteID(id string) string {
	const max = 64
	if len(id) <= max {
		return strconv.Quote(id)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return strconv.Quote(id[:cut]) + "…(" + strconv.Itoa(len(id)) + " bytes)"
}

// ctxError reports a call to id that stopped because ctx ended.
func ctxError(ctx context.Context, id string) error {
	code := CodeCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		code = CodeDeadlineExceeded
	}
	return &Error{Code: code, ID: id, Msg: ctx.Err().Error()}
}

// HTTPStatus returns the HTTP status that fits err, for programs that
// serve values and actions over HTTP: 200 for nil; 404 when the id is
// unknown or the value has no content yet; 400 when the request is wrong
// (invalid id, bad arguments, wrong type, out of range, not settable, too
// large); 503 when the owner is gone, busy or not ready; 504 when the
// deadline passed; 502 when the action failed or panicked, and for any
// other error.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrUnknownID), errors.Is(err, ErrNoValue):
		return 404
	case errors.Is(err, ErrInvalidID), errors.Is(err, ErrBadArgs), errors.Is(err, ErrWrongType),
		errors.Is(err, ErrOutOfRange), errors.Is(err, ErrNotSettable), errors.Is(err, ErrTooLarge):
		return 400
	case errors.Is(err, ErrOwnerGone), errors.Is(err, ErrBusy), errors.Is(err, ErrNotReady):
		return 503
	case errors.Is(err, context.DeadlineExceeded):
		return 504
	}
	return 502
}
