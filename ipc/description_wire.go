package ipc

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// This file holds the one conversion between a Description and its wire
// form, kervipb.Component, and the checks a description passes where it
// enters: when a process registers it, and when the hub receives it.

// maxDataDepth bounds how deeply the data types of an action's parameters
// and result nest.
const maxDataDepth = 32

// component returns the wire form of d. d's id travels in the message.
func (d *Description) component() *kervipb.Component {
	c := &kervipb.Component{
		Kind: kervipb.ComponentKind(d.Kind), Module: d.Module, Node: d.Node, Name: d.Name, Parent: d.Parent,
		Type: kervipb.ValueType(d.Type), Input: d.Input, Unit: d.Unit, Min: d.Min, Max: d.Max,
	}
	for _, ch := range d.Choices {
		c.Choices = append(c.Choices, &kervipb.Choice{Value: ch.Value, Text: ch.Text})
	}
	if len(d.Meta) > 0 {
		c.Meta = maps.Clone(d.Meta)
	}
	for _, p := range d.Params {
		c.Params = append(c.Params, &kervipb.Param{Name: p.Name, Type: p.Type.wire()})
	}
	if d.Result != nil {
		c.Result = d.Result.wire()
	}
	return c
}

func (t *DataType) wire() *kervipb.DataType {
	w := &kervipb.DataType{Kind: int32(t.Kind), Name: t.Name}
	if t.Elem != nil {
		w.Elem = t.Elem.wire()
	}
	for _, f := range t.Fields {
		w.Fields = append(w.Fields, &kervipb.Field{Name: f.Name, Type: f.Type.wire()})
	}
	return w
}

// describe returns the description of id that c carries, checked as a
// registration is (see Description.check).
func describe(id string, c *kervipb.Component) (Description, error) {
	if c == nil {
		return Description{ID: id}, errors.New("no description")
	}
	d := Description{
		ID: id, Kind: Kind(c.GetKind()), Module: c.GetModule(), Node: c.GetNode(), Name: c.GetName(), Parent: c.GetParent(),
		Type: Type(c.GetType()), Input: c.GetInput(), Unit: c.GetUnit(), Min: c.Min, Max: c.Max,
	}
	for _, ch := range c.Choices {
		d.Choices = append(d.Choices, Choice{Value: ch.GetValue(), Text: ch.GetText()})
	}
	if len(c.Meta) > 0 {
		d.Meta = maps.Clone(c.Meta)
	}
	var err error
	for i, p := range c.Params {
		var t DataType
		if t, err = dataTypeOf(p.GetType(), 0); err != nil {
			return d, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		d.Params = append(d.Params, Param{Name: p.GetName(), Type: t})
	}
	if c.Result != nil {
		t, err := dataTypeOf(c.Result, 0)
		if err != nil {
			return d, fmt.Errorf("result: %w", err)
		}
		d.Result = &t
	}
	return d, d.check()
}

func dataTypeOf(w *kervipb.DataType, depth int) (DataType, error) {
	if depth > maxDataDepth {
		return DataType{}, fmt.Errorf("data types nest deeper than %d levels", maxDataDepth)
	}
	t := DataType{Kind: DataKind(w.GetKind()), Name: w.GetName()}
	if w.Elem != nil {
		e, err := dataTypeOf(w.Elem, depth+1)
		if err != nil {
			return t, err
		}
		t.Elem = &e
	}
	for _, f := range w.Fields {
		ft, err := dataTypeOf(f.GetType(), depth+1)
		if err != nil {
			return t, err
		}
		t.Fields = append(t.Fields, Field{Name: f.GetName(), Type: ft})
	}
	return t, nil
}

// check refuses a description that cannot be announced: an invalid id or
// parent, an unknown kind, a value without a valid type, a NaN bound, text
// that is not valid UTF-8, an unknown kind of data.
func (d *Description) check() error {
	if err := ValidateID(d.ID); err != nil {
		return err
	}
	if d.Kind < KindValue || d.Kind > KindController {
		return fmt.Errorf("unknown component kind %d", int(d.Kind))
	}
	if d.Kind == KindValue && (d.Type < TypeNumber || d.Type > TypeColor) {
		return fmt.Errorf("a value of unknown type %d", int(d.Type))
	}
	if d.Parent != "" {
		if err := ValidateID(d.Parent); err != nil {
			return fmt.Errorf("parent: %w", err)
		}
	}
	if d.Min != nil && math.IsNaN(*d.Min) || d.Max != nil && math.IsNaN(*d.Max) {
		return errors.New("range bound is NaN")
	}
	texts := []struct{ what, s string }{{"module", d.Module}, {"node", d.Node}, {"name", d.Name}, {"unit", d.Unit}}
	for _, t := range texts {
		if err := checkText(t.what, t.s); err != nil {
			return err
		}
	}
	for _, ch := range d.Choices {
		if err := checkText("choice", ch.Value); err != nil {
			return err
		}
		if err := checkText("text of choice "+strconv.Quote(validText(ch.Value)), ch.Text); err != nil {
			return err
		}
	}
	for k, v := range d.Meta {
		if err := ValidateMeta(k, v); err != nil {
			return err
		}
	}
	for i, p := range d.Params {
		if err := checkText("parameter name", p.Name); err != nil {
			return err
		}
		if err := p.Type.check(0); err != nil {
			return fmt.Errorf("parameter %d: %w", i+1, err)
		}
	}
	if d.Result != nil {
		if err := d.Result.check(0); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	return nil
}

func (t *DataType) check(depth int) error {
	if depth > maxDataDepth {
		return fmt.Errorf("data types nest deeper than %d levels", maxDataDepth)
	}
	if t.Kind < DataAny || t.Kind > DataStruct {
		return fmt.Errorf("unknown kind of data %d", int(t.Kind))
	}
	if err := checkText("type name", t.Name); err != nil {
		return err
	}
	if t.Elem != nil {
		if err := t.Elem.check(depth + 1); err != nil {
			return err
		}
	}
	for _, f := range t.Fields {
		if err := checkText("field name", f.Name); err != nil {
			return err
		}
		if err := f.Type.check(depth + 1); err != nil {
			return fmt.Errorf("field %q: %w", validText(f.Name), err)
		}
	}
	return nil
}

// checkSize refuses the description if its announcement would be larger
// than maxSize; c is its wire form.
func (d *Description) checkSize(c *kervipb.Component, maxSize int) error {
	if n := proto.Size(c) + len(d.ID); n > maxSize {
		return &Error{Code: CodeTooLarge, ID: d.ID, Module: d.Module,
			Msg: fmt.Sprintf("a description of %d bytes is larger than the limit of %d bytes", n, maxSize)}
	}
	return nil
}

// Clone returns a copy of d that shares no memory with it.
func (d Description) Clone() Description {
	if d.Min != nil {
		d.Min = new(*d.Min)
	}
	if d.Max != nil {
		d.Max = new(*d.Max)
	}
	d.Choices = slices.Clone(d.Choices)
	d.Meta = maps.Clone(d.Meta)
	if d.Params != nil {
		ps := make([]Param, len(d.Params))
		for i, p := range d.Params {
			ps[i] = Param{Name: p.Name, Type: p.Type.clone()}
		}
		d.Params = ps
	}
	if d.Result != nil {
		r := d.Result.clone()
		d.Result = &r
	}
	return d
}

func (t DataType) clone() DataType {
	if t.Elem != nil {
		e := t.Elem.clone()
		t.Elem = &e
	}
	if t.Fields != nil {
		fs := make([]Field, len(t.Fields))
		for i, f := range t.Fields {
			fs[i] = Field{Name: f.Name, Type: f.Type.clone()}
		}
		t.Fields = fs
	}
	return t
}
