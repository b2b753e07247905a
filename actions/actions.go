// Package actions turns ordinary Go functions into actions that any
// process of a kervi application can call by id, and calls them.
//
//	actions.Register(bus, "lights.dim", func(ctx context.Context, level int) error { ... })
//	_, err := actions.Call(ctx, "lights.dim", 30)
//
// A call returns the action's result or an error that says what went
// wrong, matched with errors.Is: ipc.ErrUnknownID (no such action),
// ipc.ErrBadArgs (arguments that do not fit the function), ipc.ErrActionFailed
// (the function returned an error; its message is kept), ipc.ErrPanic (it
// panicked), ipc.ErrOwnerGone (its process stopped or crashed),
// ipc.ErrBusy (see Reject), context.Canceled and context.DeadlineExceeded.
// Cancelling the caller's context, or its deadline passing, cancels the
// context of the running function in its own process.
//
// # Calls while the action runs
//
// By default an action runs one call at a time (Serial): a call that
// arrives while another runs waits for it, in arrival order, for as long
// as its own context allows. Hardware actions are rarely safe to run twice
// at once, and no call is lost. Concurrent lets calls run side by side;
// Reject refuses a call while another runs, with ipc.ErrBusy.
//
// # Private actions
//
// An action registered with Private can be called by id only from its own
// process (Call, ipc.Bus.Call): it is not announced to the application,
// so observers do not see it, and a call from another process fails with
// ipc.ErrUnknownID. Use it for work a module routes through its own
// actions, such as a schedule taking a controller's lock.
//
// # Errors of registration
//
// Register returns a usable *Action and no error, as bufio.Scanner does: an
// action whose registration failed (an invalid or taken id, a function that
// does not fit) records the error on the module's bus (ipc.Bus.Fail), which
// fails the module's setup with the first such error if the setup returned
// nil, and returns it from Err. Such an action is never called. Registered
// once the setup is over, the error also goes to the bus's error handler.
package actions

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
)

// Mode says what happens to a call that arrives while the action runs.
type Mode int

const (
	// Serial runs calls one at a time, in arrival order; a waiting call
	// gives up when its context ends. The default.
	Serial Mode = iota
	// Concurrent runs calls side by side.
	Concurrent
	// Reject fails a call at once with ipc.ErrBusy while another runs.
	Reject
)

// String names the mode.
func (m Mode) String() string {
	switch m {
	case Serial:
		return "serial"
	case Concurrent:
		return "concurrent"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Option configures an action.
type Option func(*config) error

type config struct {
	name    string
	mode    Mode
	parent  string
	params  []string
	guard   func(ctx context.Context) (release func(), err error)
	private bool
	meta    ipc.Meta
}

// Name sets the action's name for people (default: its id).
func Name(name string) Option {
	return func(c *config) error { c.name = name; return nil }
}

// Meta sets the entry key of the action's metadata in the application's
// catalogue (ipc.Description.Meta) to value, for observers such as a
// dashboard; a later Meta with the same key replaces it. Keys are
// namespaced by their user, such as "dashboard" (see package
// dashboard/layout, which places actions on dashboards). A key or a value
// that ipc.ValidateMeta refuses makes Register fail, naming the action and
// the key. A Private action is not in the catalogue: its metadata is not
// seen.
func Meta(key, value string) Option {
	return func(c *config) error { return c.meta.Set(key, value) }
}

// WithMode sets what happens to calls while the action runs (default
// Serial).
func WithMode(m Mode) Option {
	return func(c *config) error {
		if m < Serial || m > Reject {
			return fmt.Errorf("unknown mode %v", m)
		}
		c.mode = m
		return nil
	}
}

// Params names the action's parameters, after the context, in order, for
// the application's catalogue and for errors about its arguments (default
// "arg1", "arg2", ...). There must be one name per parameter.
func Params(names ...string) Option {
	return func(c *config) error {
		for i, n := range names {
			if n == "" {
				return fmt.Errorf("parameter %d: empty name", i+1)
			}
			if slices.Contains(names[:i], n) {
				return fmt.Errorf("parameter name %q given twice", n)
			}
		}
		c.params = names
		return nil
	}
}

// Parent records the id of the component the action belongs to.
func Parent(id string) Option {
	return func(c *config) error { c.parent = id; return nil }
}

// Guard makes every call acquire something before the function runs, and
// release it after; controllers use it to run their actions one at a time
// with their other callbacks. acquire should give up when ctx ends.
func Guard(acquire func(ctx context.Context) (release func(), err error)) Option {
	return func(c *config) error { c.guard = acquire; return nil }
}

// Private makes the action callable only from its own process (see the
// package doc): it is not announced, and calls from other processes fail
// with ipc.ErrUnknownID.
func Private() Option {
	return func(c *config) error { c.private = true; return nil }
}

// Action is a registered action.
type Action struct {
	id      string
	err     error // of the registration; the action is not registered
	cfg     config
	fn      reflect.Value
	withCtx bool
	params  []reflect.Type // without the context
	desc    []ipc.Param    // the parameters' names and types
	result  *ipc.DataType
	sig     string
	results int  // number of results besides the error
	hasErr  bool // the last result is an error
	sem     chan struct{}
	running atomic.Int32
	waiting atomic.Int32
}

var (
	ctxType = reflect.TypeFor[context.Context]()
	errType = reflect.TypeFor[error]()
)

// Register makes fn callable by id from every process of the application.
// fn is a function whose parameters are an optional context.Context first,
// then arguments of types that can cross processes (see ipc.Encode: bool,
// numbers, string, []byte, time.Time, time.Duration, pointers, structs,
// slices and string-keyed maps of those, any); the last may be variadic.
// It returns nothing, an error, a result, or a result and an error. The
// context of a call carries the bus and ends when the caller cancels, its
// deadline passes or the module stops. The action's parameters and result
// are described in the application's catalogue (ipc.Description's Params
// and Result; see Params to name them).
//
// The registration fails if id is invalid or taken in this process, or fn
// does not fit, naming the parameter or field whose type cannot cross
// processes; the action then records the error (see the package doc).
func Register(bus *ipc.Bus, id string, fn any, opts ...Option) *Action {
	a := &Action{id: id, cfg: config{name: id}}
	if err := a.register(bus, fn, opts); err != nil {
		a.err = err
		if bus == nil {
			slog.Default().Error("kervi: an action could not be registered", "id", id, "error", err)
		} else {
			bus.Fail(err)
		}
	}
	return a
}

// register checks the options and fn, and registers the action on bus.
func (a *Action) register(bus *ipc.Bus, fn any, opts []Option) error {
	id := a.id
	if bus == nil {
		return fmt.Errorf("actions: %q: nil bus", id)
	}
	for _, o := range opts {
		if err := o(&a.cfg); err != nil {
			return fmt.Errorf("actions: %q: %w", id, err)
		}
	}
	if err := a.bind(fn); err != nil {
		return fmt.Errorf("actions: %q: %w", id, err)
	}
	if a.cfg.mode != Concurrent {
		a.sem = make(chan struct{}, 1)
	}
	var err error
	if a.cfg.private {
		err = bus.RegisterPrivateAction(id, a.handle)
	} else {
		err = bus.RegisterAction(ipc.Description{ID: id, Kind: ipc.KindAction, Name: a.cfg.name, Parent: a.cfg.parent,
			Params: a.desc, Result: a.result, Meta: a.cfg.meta}, a.handle)
	}
	if err != nil {
		return fmt.Errorf("actions: %w", err)
	}
	return nil
}

// Err returns the error that kept the action from being registered, or
// nil. An action whose registration failed is never called.
func (a *Action) Err() error { return a.err }

// Private reports whether the action can be called only from its own
// process.
func (a *Action) Private() bool { return a.cfg.private }

// bind checks fn's signature and describes its parameters and result.
func (a *Action) bind(fn any) error {
	v := reflect.ValueOf(fn)
	if !v.IsValid() || v.Kind() != reflect.Func || v.IsNil() {
		return fmt.Errorf("%T is not a function", fn)
	}
	t := v.Type()
	a.fn = v
	var names []string
	for i := range t.NumIn() {
		p := t.In(i)
		if i == 0 && p == ctxType {
			a.withCtx = true
			continue
		}
		if p == ctxType {
			return fmt.Errorf("parameter %d: a context.Context must come first", i+1)
		}
		dt, err := ipc.DescribeData(p)
		if err != nil {
			return fmt.Errorf("parameter %d (%s): %w", i+1, p, err)
		}
		a.params = append(a.params, p)
		a.desc = append(a.desc, ipc.Param{Type: dt})
		if t.IsVariadic() && i == t.NumIn()-1 {
			names = append(names, "..."+p.Elem().String())
		} else {
			names = append(names, p.String())
		}
	}
	a.sig = "(" + strings.Join(names, ", ") + ")"
	if n := len(a.cfg.params); n > 0 && n != len(a.params) {
		return fmt.Errorf("Params names %d parameter(s), the function takes %d %s", n, len(a.params), a.sig)
	}
	for i := range a.desc {
		a.desc[i].Name = "arg" + strconv.Itoa(i+1)
		if len(a.cfg.params) > 0 {
			a.desc[i].Name = a.cfg.params[i]
		}
	}
	switch n := t.NumOut(); {
	case n == 0:
	case n == 1 && t.Out(0) == errType:
		a.hasErr = true
	case n == 1:
		a.results = 1
	case n == 2 && t.Out(1) == errType:
		a.results, a.hasErr = 1, true
	default:
		return fmt.Errorf("%s must return nothing, an error, a result, or a result and an error", t)
	}
	if a.results == 1 {
		dt, err := ipc.DescribeData(t.Out(0))
		if err != nil {
			return fmt.Errorf("result (%s): %w", t.Out(0), err)
		}
		a.result = &dt
	}
	return nil
}

// ID returns the action's id.
func (a *Action) ID() string { return a.id }

// Name returns the action's name.
func (a *Action) Name() string { return a.cfg.name }

// Mode returns what happens to calls while the action runs.
func (a *Action) Mode() Mode { return a.cfg.mode }

// Running returns how many calls are running now.
func (a *Action) Running() int { return int(a.running.Load()) }

// Waiting returns how many calls wait for a running call to finish.
func (a *Action) Waiting() int { return int(a.waiting.Load()) }

// handle serves one call.
func (a *Action) handle(ctx context.Context, args ipc.Args) (any, error) {
	in, err := a.decode(args)
	if err != nil {
		return nil, err
	}
	switch a.cfg.mode {
	case Serial:
		a.waiting.Add(1)
		select {
		case a.sem <- struct{}{}:
			a.waiting.Add(-1)
		case <-ctx.Done():
			a.waiting.Add(-1)
			return nil, ctx.Err()
		}
		defer func() { <-a.sem }()
	case Reject:
		select {
		case a.sem <- struct{}{}:
		default:
			return nil, ipc.Errorf(ipc.CodeBusy, "action %q is already running", a.id)
		}
		defer func() { <-a.sem }()
	}
	if a.cfg.guard != nil {
		release, err := a.cfg.guard(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if a.withCtx {
		in = append([]reflect.Value{reflect.ValueOf(ctx)}, in...)
	}
	a.running.Add(1)
	defer a.running.Add(-1)
	out := a.fn.Call(in)
	if a.hasErr {
		if e := out[len(out)-1]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
	}
	if a.results == 1 {
		return out[0].Interface(), nil
	}
	return nil, nil
}

// decode converts the call's arguments to the function's parameters.
func (a *Action) decode(args ipc.Args) ([]reflect.Value, error) {
	n := len(a.params)
	variadic := a.fn.Type().IsVariadic()
	if (!variadic && args.Len() != n) || (variadic && args.Len() < n-1) {
		want := fmt.Sprintf("%d", n)
		if variadic {
			want = fmt.Sprintf("at least %d", n-1)
		}
		return nil, ipc.Errorf(ipc.CodeBadArgs, "action %q takes %s argument(s) %s, got %d", a.id, want, a.sig, args.Len())
	}
	in := make([]reflect.Value, 0, args.Len())
	for i := range args.Len() {
		t := a.params[min(i, n-1)]
		if variadic && i >= n-1 {
			t = t.Elem()
		}
		v, err := args.DecodeTo(i, t)
		if err != nil {
			if len(a.cfg.params) > 0 {
				return nil, fmt.Errorf("argument %d (%s) of %s: %w", i+1, a.desc[min(i, n-1)].Name, a.sig, err)
			}
			return nil, fmt.Errorf("argument %d of %s: %w", i+1, a.sig, err)
		}
		in = append(in, v)
	}
	return in, nil
}

// Call calls the action id, in whichever process owns it, with the bus that
// ctx carries (every context kervi hands out carries one; see
// ipc.NewContext), and returns its result (see the package doc for
// errors). Results arrive as ipc.Decode's natural Go types: int64 for any
// signed integer, float64, string, and so on; CallAs converts them.
func Call(ctx context.Context, id string, args ...any) (any, error) {
	bus, ok := ipc.FromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("actions: call %q: %w", id, ipc.ErrNoBus)
	}
	return bus.Call(ctx, id, args...)
}

// CallAs is Call with the result converted to T (as arguments are
// converted to parameters), such as the struct the action returns.
func CallAs[T any](ctx context.Context, id string, args ...any) (T, error) {
	var zero T
	res, err := Call(ctx, id, args...)
	if err != nil {
		return zero, err
	}
	if x, ok := res.(T); ok {
		return x, nil
	}
	v, err := ipc.Convert(res, reflect.TypeFor[T]())
	if err != nil {
		return zero, fmt.Errorf("actions: result of %q: %w", id, err)
	}
	return v.Interface().(T), nil
}

func init() {
	failed.Action = func(id, name string, err error) any {
		return &Action{id: id, cfg: config{name: name}, err: err}
	}
}
