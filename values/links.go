package values

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kervi/kervi-go/ipc"
)

// LinkError reports a problem of a link: its source never appeared, has a
// type the linked value cannot take, or an update was refused. It names
// both ids; Err says what is wrong and matches the ipc errors
// (ipc.ErrUnknownID, ipc.ErrWrongType, ipc.ErrOutOfRange, ...).
type LinkError struct {
	// Value is the id of the linked value; Source the id it follows.
	Value, Source string
	Err           error
}

// Error implements error.
func (e *LinkError) Error() string {
	return "values: link " + e.Value + " <- " + e.Source + ": " + e.Err.Error()
}

// Unwrap returns what is wrong.
func (e *LinkError) Unwrap() error { return e.Err }

// link is the state of one link: whether a type mismatch was reported.
type link[T any] struct {
	b   *base[T]
	src string
	// takes, if not nil, says whether the value can take content of a
	// source's type (Link); LinkFunc's convert decides that for itself.
	takes      func(ipc.Type) error
	mismatched atomic.Bool // a wrong type was reported: not again
}

// link makes b follow sourceID through convert, and checks the source.
func (b *base[T]) link(sourceID string, takes func(ipc.Type) error, convert func(ipc.Value) (T, error)) (*ipc.Subscription, error) {
	if !b.input {
		return nil, fmt.Errorf("values: %q is an output and cannot be linked", b.id)
	}
	if sourceID == b.id {
		return nil, fmt.Errorf("values: %q cannot be linked to itself", b.id)
	}
	l := &link[T]{b: b, src: sourceID, takes: takes}
	s, err := b.bus.Subscribe(sourceID, func(ev ipc.Event) {
		x, err := convert(ev.Value)
		if err == nil {
			err = b.setAt(x, ev.Time) // the content changed when the source did
		}
		if err != nil {
			l.refused(ev.Value, err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("values: link %q to %q: %w", b.id, sourceID, err)
	}
	b.bus.Go(l.check)
	return s, nil
}

// report passes a problem of the link to the bus's error handler.
func (l *link[T]) report(err error) {
	l.b.bus.ReportError(&LinkError{Value: l.b.id, Source: l.src, Err: err})
}

// refused reports an update the value refused; one of the wrong type only
// if no wrong type was reported before.
func (l *link[T]) refused(v ipc.Value, err error) {
	if errors.Is(err, ipc.ErrWrongType) && l.mismatched.Swap(true) {
		return
	}
	l.report(fmt.Errorf("update %v refused: %w", v, err))
}

// check checks the source once its description is known: at once if the
// hub knows it; otherwise once the application is ready, when every
// module has announced what it owns.
func (l *link[T]) check(ctx context.Context) {
	bus := l.b.bus
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	d, err := bus.Describe(ctx, l.src)
	if errors.Is(err, ipc.ErrNotReady) || errors.Is(err, ipc.ErrUnknownID) && !bus.AppReady() {
		bus.OnAppReady(func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			l.verdict(bus.Describe(ctx, l.src))
		})
		return
	}
	l.verdict(d, err)
}

// verdict reports what the source's description says is wrong.
func (l *link[T]) verdict(d ipc.Description, err error) {
	switch {
	case errors.Is(err, ipc.ErrUnknownID):
		l.report(ipc.Errorf(ipc.CodeUnknownID, "no module owns %s", l.src))
	case err != nil:
		// The module stops, or the hub is gone: nothing to say.
	case d.Kind != ipc.KindValue:
		l.report(ipc.Errorf(ipc.CodeWrongType, "%s is not a value: module %q owns it as %s", l.src, d.Module, withArticle(d.Kind.String())))
	case l.takes != nil:
		if err := l.takes(d.Type); err != nil && !l.mismatched.Swap(true) {
			l.report(ipc.Errorf(ipc.CodeWrongType, "%s is a %s value (module %q), %s a %s value", l.src, d.Type, d.Module, l.b.id, l.b.typ))
		}
	}
}

// takes reports whether the value can take the content of a value of
// type t through a link without a conversion.
func (b *base[T]) takes(t ipc.Type) error {
	var sample ipc.Value
	switch t {
	case ipc.TypeNumber:
		sample = ipc.NumberValue(0)
	case ipc.TypeBool:
		sample = ipc.BoolValue(false)
	case ipc.TypeString:
		sample = ipc.StringValue("#000000")
	case ipc.TypeEnum:
		sample = ipc.EnumValue("#000000")
	case ipc.TypeColor:
		sample = ipc.ColorValue("#000000")
	case ipc.TypeDateTime:
		sample = ipc.DateTimeValue(time.Unix(0, 0))
	default:
		return fmt.Errorf("unknown type %v", t)
	}
	_, err := b.fromWire(sample)
	return err
}

// withArticle puts "a" or "an" before a word.
func withArticle(w string) string {
	if w != "" && strings.ContainsRune("aeiou", rune(w[0])) {
		return "an " + w
	}
	return "a " + w
}
