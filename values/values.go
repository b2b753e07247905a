// Package values provides the typed values of a kervi application: Number,
// Bool, String, Enum, DateTime and Color. A value has an id that is unique
// in the application, a name for people, its current content and the time
// it last changed. Every change is published on the bus, so any process can
// follow the value by id; an input can be linked to any value id in any
// process, and other processes can set an input by id.
//
// # Writes
//
// Set validates a write before it takes effect. A write of the wrong type,
// out of the value's range, or naming an option an Enum does not have is
// refused with an *ipc.Error that names the value and matches
// ipc.ErrWrongType or ipc.ErrOutOfRange; the value keeps its content. With
// the Clamp option a Number clamps out-of-range writes into its range
// instead. A Number refuses NaN, and +Inf and -Inf unless made with
// AllowInf. Text (String, Enum, Color) must be valid UTF-8 (ipc.ErrWrongType)
// and fit the application's message size limit (ipc.ErrTooLarge). Writes from other processes (ipc.Bus.Set) are validated the same
// way, and their writer gets the same error. Outputs cannot be set from
// other processes (ipc.ErrNotSettable).
//
// Updates that arrive through a link have no writer to return an error to:
// a refused update leaves the value as it was and is reported to the bus's
// error handler (by default a warning in the log) as a *LinkError naming
// both ids.
//
// # Links
//
// A link whose source never appears, or whose source has a type the value
// cannot take, is reported once as a *LinkError:
//
//	values: link fan.temp <- cpu_lod: no module owns cpu_lod
//
// The link is checked against the source's description (ipc.Bus.Describe)
// as soon as it is known, which for a source announced before the link is
// made is at once; otherwise once the application is ready. An update of
// the wrong type, from a source whose type changed, is reported once too;
// other refused updates (out of range) are reported each time.
//
// # Errors of creation
//
// Constructors return a usable value and no error, as bufio.Scanner does:
// a value whose creation failed (an invalid or taken id, an option that
// does not apply, initial content out of range) records its error on the
// module's bus (ipc.Bus.Fail), which fails the module's setup with the
// first such error if the setup returned nil, and returns it from Err and
// from every Set. Created once the setup is over, the error also goes to
// the bus's error handler. So a setup may create ten values and check
// nothing: the first mistake still stops the module, naming the value, and
// errors.Is(err, ipc.ErrInvalidID) and the like keep working on it.
//
// # Metadata
//
// Meta sets an entry of the value's metadata in the application's catalogue
// (ipc.Description.Meta), for observers such as a dashboard; package
// dashboard/layout uses it to place values on dashboards. An invalid key or
// value is an error of creation.
//
// # Delta
//
// A Number with a Delta publishes a change only when it differs from the
// last published content by at least Delta; smaller changes are not
// published and not kept, so the value reads as its last published content
// and slow drifts are published once they add up to Delta.
package values

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/failed"
	"github.com/kervi/kervi-go/ipc"
)

// Value is what every value type offers; controllers receive it in
// InputChanged.
type Value interface {
	// ID returns the value's id, unique in the application.
	ID() string
	// Name returns the value's name for people.
	Name() string
	// Type returns the value's type.
	Type() ipc.Type
	// IsInput reports whether the value is an input (settable from other
	// processes, linkable) rather than an output.
	IsInput() bool
	// Any returns the current content as a Go value (float64, bool,
	// string, time.Time or RGB), or nil if the value has none yet.
	Any() any
	// Timestamp returns when the content last changed; zero if never.
	Timestamp() time.Time
	// Err returns the error that kept the value from being created, or
	// nil.
	Err() error
}

// Option configures a value. Options that do not apply to a value's type
// make its constructor fail.
type Option func(*config) error

type config struct {
	used     map[string]bool
	unit     string
	min      *float64
	max      *float64
	delta    float64
	clamp    bool
	choices  []Choice
	initial  any
	input    bool
	parent   string
	allowInf bool
	meta     ipc.Meta
}

func (c *config) use(name string) {
	if c.used == nil {
		c.used = make(map[string]bool)
	}
	c.used[name] = true
}

// Meta sets the entry key of the value's metadata in the application's
// catalogue (ipc.Description.Meta) to value, for observers such as a
// dashboard; a later Meta with the same key replaces it. Keys are
// namespaced by their user, such as "dashboard" (see package
// dashboard/layout, which places values on dashboards). A key or a value
// that ipc.ValidateMeta refuses makes the constructor fail, naming the
// value and the key. It applies to values of every type.
func Meta(key, value string) Option {
	return func(c *config) error { return c.meta.Set(key, value) }
}

// Unit sets a Number's unit, such as "°C" or "%".
func Unit(unit string) Option {
	return func(c *config) error { c.use("Unit"); c.unit = unit; return nil }
}

// Min sets a Number's lowest allowed content.
func Min(v float64) Option {
	return func(c *config) error { c.use("Min"); c.min = &v; return nil }
}

// Max sets a Number's highest allowed content.
func Max(v float64) Option {
	return func(c *config) error { c.use("Max"); c.max = &v; return nil }
}

// Range sets a Number's lowest and highest allowed content.
func Range(min, max float64) Option {
	return func(c *config) error {
		if min > max {
			return fmt.Errorf("range [%g, %g] is empty", min, max)
		}
		c.use("Min")
		c.use("Max")
		c.min, c.max = &min, &max
		return nil
	}
}

// Delta makes a Number publish a change only when it differs from the last
// published content by at least d (see the package doc).
func Delta(d float64) Option {
	return func(c *config) error {
		if d < 0 || math.IsNaN(d) {
			return fmt.Errorf("delta %g is negative", d)
		}
		c.use("Delta")
		c.delta = d
		return nil
	}
}

// AllowInf lets a Number take +Inf and -Inf, which it refuses by default
// (ipc.ErrOutOfRange): an infinite reading is usually a fault, such as a
// division by zero, and many consumers of values (JSON among them) cannot
// represent it. NaN is always refused.
func AllowInf() Option {
	return func(c *config) error { c.use("AllowInf"); c.allowInf = true; return nil }
}

// Clamp makes a Number clamp out-of-range writes into its range instead of
// refusing them.
func Clamp() Option {
	return func(c *config) error { c.use("Clamp"); c.clamp = true; return nil }
}

// Choice is one option of an Enum: the value it stands for and the text
// people see. It is the catalogue's ipc.Choice.
type Choice = ipc.Choice

// Choices sets an Enum's options; each is its own text.
func Choices(values ...string) Option {
	return func(c *config) error {
		c.use("Choices")
		for _, v := range values {
			c.choices = append(c.choices, Choice{Value: v, Text: v})
		}
		return nil
	}
}

// WithChoice adds an option to an Enum.
func WithChoice(value, text string) Option {
	return func(c *config) error {
		c.use("Choices")
		c.choices = append(c.choices, Choice{Value: value, Text: text})
		return nil
	}
}

// Initial sets a value's content at creation; it is validated like a write
// and published at once. Without it a value has no content (Any returns
// nil) until its first write.
func Initial(v any) Option {
	return func(c *config) error { c.use("Initial"); c.initial = v; return nil }
}

// Input makes the value an input: other processes may set it and it can be
// linked to other values. Values are inputs unless made outputs.
func Input() Option {
	return func(c *config) error { c.input = true; return nil }
}

// Output makes the value an output: only its owner sets it.
func Output() Option {
	return func(c *config) error { c.input = false; return nil }
}

// Parent records the id of the component (controller, sensor) the value
// belongs to, for catalogues such as the dashboard's.
func Parent(id string) Option {
	return func(c *config) error { c.parent = id; return nil }
}

// newConfig applies opts; allowed lists the options the type accepts
// besides Initial, Input, Output and Parent.
func newConfig(typ ipc.Type, id string, opts []Option, allowed ...string) (*config, error) {
	c := &config{input: true}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, fmt.Errorf("values: %s value %q: %w", typ, id, err)
		}
	}
	ok := map[string]bool{"Initial": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for name := range c.used {
		if !ok[name] {
			return nil, fmt.Errorf("values: %s value %q: option %s does not apply to %s values", typ, id, name, typ)
		}
	}
	return c, nil
}

// base is the machinery every value type shares.
type base[T any] struct {
	bus   *ipc.Bus
	pub   *ipc.Publisher
	id    string
	name  string
	typ   ipc.Type
	input bool

	// check validates (and may normalise) a write.
	check func(T) (T, error)
	// skip reports whether a write is too small a change to publish.
	skip     func(last, next T) bool
	toWire   func(T) ipc.Value
	fromWire func(ipc.Value) (T, error)

	// err is the error of the value's creation; a value with one does
	// nothing and returns it.
	err error

	mu  sync.Mutex
	v   T
	ts  time.Time
	has bool
}

// init sets what a value has even if its creation fails.
func (b *base[T]) init(bus *ipc.Bus, id, name string, typ ipc.Type) {
	b.bus, b.id, b.name, b.typ, b.input = bus, id, name, typ, true
}

// fail records the error of the value's creation, if err is not nil, on
// the value and on its bus (ipc.Bus.Fail).
func (b *base[T]) fail(err error) {
	if err == nil {
		return
	}
	b.err = err
	if b.bus == nil {
		slog.Default().Error("kervi: a value could not be created", "id", b.id, "error", err)
		return
	}
	b.bus.Fail(err)
}

// Err returns the error that kept the value from being created, or nil. A
// value whose creation failed is usable: it has no content, Set and Link
// return this error, and OnChange does nothing.
func (b *base[T]) Err() error { return b.err }

// register announces the value on the bus and applies its initial content.
func (b *base[T]) register(bus *ipc.Bus, id, name string, typ ipc.Type, c *config, d ipc.Description) error {
	b.input = c.input
	if bus == nil {
		return fmt.Errorf("values: %s value %q: nil bus", typ, id)
	}
	if b.check == nil {
		b.check = func(v T) (T, error) { return v, nil }
	}
	d.ID, d.Kind, d.Name, d.Type, d.Parent = id, ipc.KindValue, name, typ, c.parent
	d.Meta = c.meta
	var set func(context.Context, ipc.Value) error
	if c.input {
		set = func(_ context.Context, v ipc.Value) error {
			x, err := b.fromWire(v)
			if err != nil {
				return err
			}
			return b.Set(x)
		}
	}
	var initial T
	hasInitial := c.initial != nil
	if hasInitial {
		x, ok := c.initial.(T)
		if !ok {
			v, err := ipc.ValueOf(c.initial)
			if err == nil {
				x, err = b.fromWire(v)
			}
			if err != nil {
				return fmt.Errorf("values: %s value %q: initial content %v (%T) is not a %s", typ, id, c.initial, c.initial, typ)
			}
		}
		var err error
		if initial, err = b.check(x); err != nil {
			return fmt.Errorf("values: initial content: %w", err)
		}
	}
	pub, err := bus.RegisterValue(d, set)
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}
	b.pub = pub
	ts := time.Now()
	if ev, ok := bus.Restored(id); ok { // the module was restarted
		x, err := b.fromWire(ev.Value)
		if err == nil {
			x, err = b.check(x)
		}
		if err != nil {
			bus.ReportError(fmt.Errorf("values: %q: not restoring %v: %w", id, ev.Value, err))
		} else {
			initial, hasInitial, ts = x, true, ev.Time
		}
	}
	if hasInitial {
		b.mu.Lock()
		err := b.store(initial, ts)
		b.mu.Unlock()
		if err != nil {
			return fmt.Errorf("values: initial content: %w", err)
		}
	}
	return nil
}

// ID returns the value's id.
func (b *base[T]) ID() string { return b.id }

// Name returns the value's name.
func (b *base[T]) Name() string { return b.name }

// Type returns the value's type.
func (b *base[T]) Type() ipc.Type { return b.typ }

// IsInput reports whether the value is an input.
func (b *base[T]) IsInput() bool { return b.input }

// Value returns the current content, or T's zero value if there is none.
func (b *base[T]) Value() T {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.v
}

// Followed reports whether a process other than the value's own
// subscribes to it. Until one does, changes that pile up faster than they
// can be sent are collapsed into the latest (see ipc.Publisher.Followed).
func (b *base[T]) Followed() bool { return b.pub != nil && b.pub.Followed() }

// Timestamp returns when the content last changed; zero if never.
func (b *base[T]) Timestamp() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ts
}

// Any returns the current content, or nil if there is none.
func (b *base[T]) Any() any {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.has {
		return nil
	}
	return b.v
}

// Set validates v and, if it passes, makes it the content and publishes
// it. The error, an *ipc.Error, names the value and says what is wrong.
func (b *base[T]) Set(v T) error { return b.setAt(v, time.Now()) }

// setAt is Set with the time of the change.
func (b *base[T]) setAt(v T, ts time.Time) error {
	if b.err != nil {
		return b.err
	}
	x, err := b.check(v)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.has && b.skip != nil && b.skip(b.v, x) {
		return nil
	}
	return b.store(x, ts)
}

// store publishes v and makes it the content, unless it cannot cross
// processes (text that is not UTF-8, content over the message size limit:
// see ipc.Bus.CheckValue). b.mu is held, so events of the value leave in
// the order of their writes.
func (b *base[T]) store(v T, ts time.Time) error {
	if err := b.pub.Publish(b.toWire(v), ts); err != nil {
		return err
	}
	b.v, b.ts, b.has = v, ts, true
	return nil
}

// OnChange calls fn with every change of the value, including changes made
// in this process. Callbacks run on the bus's dispatch goroutine, one at a
// time, in the order of the changes; fn's ctx carries the bus. A callback
// that keeps up sees every change; one too slow for the rate of changes
// (it cannot catch up within the stall timeout) sees the latest content
// instead of a growing backlog, still in order, until it keeps up again
// (see the ipc package doc). A value whose creation failed returns nil,
// which Close accepts.
func (b *base[T]) OnChange(fn func(ctx context.Context, v T)) *ipc.Subscription {
	if b.err != nil {
		return nil
	}
	s, _ := b.bus.Subscribe(b.id, func(ev ipc.Event) {
		if x, err := b.fromWire(ev.Value); err == nil {
			fn(b.bus.Context(), x)
		}
	})
	return s
}

// Link makes the value follow the value sourceID, wherever in the
// application it lives, starting with its current content. Each update
// passes through transform, if not nil, then is validated as a Set; it
// keeps the source's timestamp. The source need not exist yet. A source
// that never appears, or whose type this value cannot take, is reported
// once to the bus's error handler as a *LinkError naming both ids: as soon
// as the source's description is known, otherwise once the application is
// ready (see the package doc). Close the returned subscription to unlink.
//
// A link that cannot be made (the value is an output, sourceID is invalid)
// returns the error and records it on the module's bus, as constructors
// do, so that a setup that does not check it fails all the same.
func (b *base[T]) Link(sourceID string, transform func(T) T) (*ipc.Subscription, error) {
	return b.linkChecked(sourceID, b.takes, func(v ipc.Value) (T, error) {
		x, err := b.fromWire(v)
		if err == nil && transform != nil {
			x = transform(x)
		}
		return x, err
	})
}

// LinkFunc makes the value follow sourceID through convert, which turns
// the source's content into this value's type (for links between values of
// different types). A source that never appears is reported as Link
// reports it; convert decides which types it takes. Its errors are
// recorded as Link's are.
func (b *base[T]) LinkFunc(sourceID string, convert func(ipc.Value) (T, error)) (*ipc.Subscription, error) {
	return b.linkChecked(sourceID, nil, convert)
}

// linkChecked makes a link of a value whose creation succeeded, and
// records an error on the bus.
func (b *base[T]) linkChecked(sourceID string, takes func(ipc.Type) error, convert func(ipc.Value) (T, error)) (*ipc.Subscription, error) {
	if b.err != nil {
		return nil, b.err // recorded when the value was made
	}
	s, err := b.link(sourceID, takes, convert)
	if err != nil {
		b.bus.Fail(err)
	}
	return s, err
}

// errorf builds the error of a refused write.
func (b *base[T]) errorf(code ipc.Code, format string, args ...any) error {
	return &ipc.Error{Code: code, ID: b.id, Module: b.bus.Module(), Msg: fmt.Sprintf(format, args...)}
}

func (b *base[T]) wrongType(v ipc.Value) (T, error) {
	var zero T
	return zero, b.errorf(ipc.CodeWrongType, "a %s value cannot take %s %s", b.typ, v.Type(), v)
}

// ---- Number ----

// Number is a float64 value with an optional unit, range and delta.
type Number struct {
	base[float64]
	unit  string
	min   *float64
	max   *float64
	delta float64
}

var _ Value = (*Number)(nil)

// NewNumber creates a number value. Options: Unit, Min, Max, Range, Delta,
// Clamp, AllowInf, Initial, Input, Output. If the creation fails, the
// number records the error (see the package doc) and does nothing.
func NewNumber(bus *ipc.Bus, id, name string, opts ...Option) *Number {
	n := &Number{}
	n.init(bus, id, name, ipc.TypeNumber)
	c, err := newConfig(ipc.TypeNumber, id, opts, "Unit", "Min", "Max", "Delta", "Clamp", "AllowInf")
	if err != nil {
		n.fail(err)
		return n
	}
	n.unit, n.min, n.max, n.delta = c.unit, c.min, c.max, c.delta
	n.check = func(v float64) (float64, error) {
		if math.IsNaN(v) {
			return 0, n.errorf(ipc.CodeWrongType, "NaN is not a number")
		}
		if math.IsInf(v, 0) && !c.allowInf {
			return 0, n.errorf(ipc.CodeOutOfRange, "%g is not a finite number (values.AllowInf allows infinities)", v)
		}
		if n.min != nil && v < *n.min || n.max != nil && v > *n.max {
			if c.clamp {
				if n.min != nil {
					v = math.Max(v, *n.min)
				}
				if n.max != nil {
					v = math.Min(v, *n.max)
				}
				return v, nil
			}
			return 0, n.errorf(ipc.CodeOutOfRange, "%g is outside the range %s", v, n.rangeString())
		}
		return v, nil
	}
	if c.delta > 0 {
		n.skip = func(last, next float64) bool { return math.Abs(next-last) < c.delta }
	}
	n.toWire = ipc.NumberValue
	n.fromWire = func(v ipc.Value) (float64, error) {
		if v.Type() != ipc.TypeNumber {
			return n.wrongType(v)
		}
		return v.Number(), nil
	}
	d := ipc.Description{Unit: c.unit, Min: c.min, Max: c.max}
	n.fail(n.register(bus, id, name, ipc.TypeNumber, c, d))
	return n
}

func (n *Number) rangeString() string {
	lo, hi := "-inf", "+inf"
	if n.min != nil {
		lo = strconv.FormatFloat(*n.min, 'g', -1, 64)
	}
	if n.max != nil {
		hi = strconv.FormatFloat(*n.max, 'g', -1, 64)
	}
	return "[" + lo + ", " + hi + "]"
}

// Check reports whether Set would accept v, without setting it: the
// error Set would return, or nil.
func (n *Number) Check(v float64) error {
	if n.err != nil {
		return n.err
	}
	_, err := n.check(v)
	return err
}

// Unit returns the number's unit.
func (n *Number) Unit() string { return n.unit }

// Min returns the lowest allowed content, if there is one.
func (n *Number) Min() (float64, bool) {
	if n.min == nil {
		return 0, false
	}
	return *n.min, true
}

// Max returns the highest allowed content, if there is one.
func (n *Number) Max() (float64, bool) {
	if n.max == nil {
		return 0, false
	}
	return *n.max, true
}

// Delta returns the smallest change the number publishes.
func (n *Number) Delta() float64 { return n.delta }

// ---- Bool ----

// Bool is a boolean value.
type Bool struct{ base[bool] }

var _ Value = (*Bool)(nil)

// NewBool creates a bool value. Options: Initial, Input, Output. If the
// creation fails, the value records the error (see the package doc) and
// does nothing.
func NewBool(bus *ipc.Bus, id, name string, opts ...Option) *Bool {
	v := &Bool{}
	v.init(bus, id, name, ipc.TypeBool)
	c, err := newConfig(ipc.TypeBool, id, opts)
	if err != nil {
		v.fail(err)
		return v
	}
	v.toWire = ipc.BoolValue
	v.fromWire = func(x ipc.Value) (bool, error) {
		if x.Type() != ipc.TypeBool {
			return v.wrongType(x)
		}
		return x.Bool(), nil
	}
	v.fail(v.register(bus, id, name, ipc.TypeBool, c, ipc.Description{}))
	return v
}

// ---- String ----

// String is a text value.
type String struct{ base[string] }

var _ Value = (*String)(nil)

// NewString creates a string value. Options: Initial, Input, Output. If
// the creation fails, the value records the error (see the package doc)
// and does nothing.
func NewString(bus *ipc.Bus, id, name string, opts ...Option) *String {
	v := &String{}
	v.init(bus, id, name, ipc.TypeString)
	c, err := newConfig(ipc.TypeString, id, opts)
	if err != nil {
		v.fail(err)
		return v
	}
	v.toWire = ipc.StringValue
	v.fromWire = func(x ipc.Value) (string, error) {
		switch x.Type() {
		case ipc.TypeString, ipc.TypeEnum, ipc.TypeColor:
			return x.Text(), nil
		}
		return v.wrongType(x)
	}
	v.fail(v.register(bus, id, name, ipc.TypeString, c, ipc.Description{}))
	return v
}

// ---- Enum ----

// Enum is a value that holds one of a fixed set of options.
type Enum struct {
	base[string]
	choices []Choice
}

var _ Value = (*Enum)(nil)

// NewEnum creates an enum value. Options: Choices and WithChoice (at least
// one option is required), Initial, Input, Output. If the creation fails,
// the value records the error (see the package doc) and does nothing.
func NewEnum(bus *ipc.Bus, id, name string, opts ...Option) *Enum {
	v := &Enum{}
	v.init(bus, id, name, ipc.TypeEnum)
	c, err := newConfig(ipc.TypeEnum, id, opts, "Choices")
	if err != nil {
		v.fail(err)
		return v
	}
	if len(c.choices) == 0 {
		v.fail(fmt.Errorf("values: enum value %q: no options (use Choices or WithChoice)", id))
		return v
	}
	var names []string
	var choices []ipc.Choice
	seen := make(map[string]bool)
	for _, ch := range c.choices {
		if seen[ch.Value] {
			v.fail(fmt.Errorf("values: enum value %q: option %q given twice", id, ch.Value))
			return v
		}
		seen[ch.Value] = true
		names = append(names, ch.Value)
		choices = append(choices, ch)
	}
	v.check = func(s string) (string, error) {
		if !seen[s] {
			return "", v.errorf(ipc.CodeOutOfRange, "%q is not one of the options %q", s, names)
		}
		return s, nil
	}
	v.toWire = ipc.EnumValue
	v.fromWire = func(x ipc.Value) (string, error) {
		switch x.Type() {
		case ipc.TypeEnum, ipc.TypeString:
			return x.Text(), nil
		}
		return v.wrongType(x)
	}
	v.choices = c.choices
	v.fail(v.register(bus, id, name, ipc.TypeEnum, c, ipc.Description{Choices: choices}))
	return v
}

// Choices returns the enum's options.
func (e *Enum) Choices() []Choice { return append([]Choice(nil), e.choices...) }

// ---- DateTime ----

// DateTime is a point in time.
type DateTime struct{ base[time.Time] }

var _ Value = (*DateTime)(nil)

// NewDateTime creates a datetime value. Options: Initial, Input, Output.
// If the creation fails, the value records the error (see the package doc)
// and does nothing.
func NewDateTime(bus *ipc.Bus, id, name string, opts ...Option) *DateTime {
	v := &DateTime{}
	v.init(bus, id, name, ipc.TypeDateTime)
	c, err := newConfig(ipc.TypeDateTime, id, opts)
	if err != nil {
		v.fail(err)
		return v
	}
	v.toWire = ipc.DateTimeValue
	v.fromWire = func(x ipc.Value) (time.Time, error) {
		if x.Type() != ipc.TypeDateTime {
			return v.wrongType(x)
		}
		return x.Time(), nil
	}
	v.fail(v.register(bus, id, name, ipc.TypeDateTime, c, ipc.Description{}))
	return v
}

// ---- Color ----

// RGB is a color.
type RGB struct{ R, G, B uint8 }

// String formats c as "#rrggbb".
func (c RGB) String() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// errBadColor is wrapped by ParseColor's errors.
var errBadColor = errors.New("not a color")

// ParseColor parses "#rrggbb" or "#rgb".
func ParseColor(s string) (RGB, error) {
	bad := fmt.Errorf("%w: %q (want \"#rrggbb\")", errBadColor, s)
	if len(s) == 4 && s[0] == '#' {
		s = string([]byte{'#', s[1], s[1], s[2], s[2], s[3], s[3]})
	}
	if len(s) != 7 || s[0] != '#' {
		return RGB{}, bad
	}
	n, err := strconv.ParseUint(s[1:], 16, 32)
	if err != nil {
		return RGB{}, bad
	}
	return RGB{R: uint8(n >> 16), G: uint8(n >> 8), B: uint8(n)}, nil
}

// Color is a color value.
type Color struct{ base[RGB] }

var _ Value = (*Color)(nil)

// NewColor creates a color value. Initial accepts an RGB or a "#rrggbb"
// string. Options: Initial, Input, Output. If the creation fails, the
// value records the error (see the package doc) and does nothing.
func NewColor(bus *ipc.Bus, id, name string, opts ...Option) *Color {
	v := &Color{}
	v.init(bus, id, name, ipc.TypeColor)
	c, err := newConfig(ipc.TypeColor, id, opts)
	if err != nil {
		v.fail(err)
		return v
	}
	v.toWire = func(c RGB) ipc.Value { return ipc.ColorValue(c.String()) }
	v.fromWire = func(x ipc.Value) (RGB, error) {
		switch x.Type() {
		case ipc.TypeColor, ipc.TypeString:
			rgb, err := ParseColor(x.Text())
			if err != nil {
				return RGB{}, v.errorf(ipc.CodeWrongType, "%v", err)
			}
			return rgb, nil
		}
		return v.wrongType(x)
	}
	v.fail(v.register(bus, id, name, ipc.TypeColor, c, ipc.Description{}))
	return v
}

func init() {
	failed.Value = newFailed
}

// newFailed returns a value of type typ whose creation failed with err: the
// value of a controller whose own creation failed, say. The error is
// recorded on the value only.
func newFailed(typ ipc.Type, id, name string, input bool, err error) any {
	var v interface {
		Value
		setFailed(id, name string, typ ipc.Type, input bool, err error)
	}
	switch typ {
	case ipc.TypeNumber:
		v = &Number{}
	case ipc.TypeBool:
		v = &Bool{}
	case ipc.TypeString:
		v = &String{}
	case ipc.TypeEnum:
		v = &Enum{}
	case ipc.TypeDateTime:
		v = &DateTime{}
	case ipc.TypeColor:
		v = &Color{}
	default:
		return nil
	}
	v.setFailed(id, name, typ, input, err)
	return v
}

func (b *base[T]) setFailed(id, name string, typ ipc.Type, input bool, err error) {
	b.id, b.name, b.typ, b.input, b.err = id, name, typ, input, err
}
