package wirecodec

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// The strings of nested messages must be valid UTF-8, as protobuf requires;
// the generated code does not check (planetscale/vtprotobuf#146), so this
// file does. The strings of Msg itself (id, text, module) are checked where
// they enter, by the bus and the hub (ipc), which answer with the error the
// user expects.
//
// Value events, which have no nested message, cost two tests. Arguments
// and results (Data), the nested messages of every call, are walked by
// hand; the rest (errors, component descriptions, whatever the proto gains)
// by reflection, which needs no change when the proto does.
// TestNestedStringsChecked makes each string field under Msg invalid in
// turn and checks that it is refused; TestHasNested checks that hasData and
// hasOther see every message field of Msg.

// Field numbers of the Msg fields walked by hand.
const (
	msgArgs   = 10
	msgResult = 11
)

// hasData reports whether m has arguments or a result.
func hasData(m *kervipb.Msg) bool {
	return len(m.Args) != 0 || m.Result != nil
}

// hasOther reports whether m has a nested message other than its arguments
// and result.
func hasOther(m *kervipb.Msg) bool {
	return m.Error != nil || m.Component != nil
}

// checkNested refuses a Msg whose nested messages hold a string that is not
// valid UTF-8.
func checkNested(m *kervipb.Msg) error {
	return walkNested(m, false)
}

// fixNested is checkNested for a Msg just decoded, which it may change: a
// map entry without a value, which the generated code decodes as nil, gets
// an empty value, as protobuf gives it.
func fixNested(m *kervipb.Msg) error {
	return walkNested(m, true)
}

func walkNested(m *kervipb.Msg, fix bool) error {
	if hasData(m) {
		for i, a := range m.Args {
			if err := walkData(a, fix); err != nil {
				return fmt.Errorf("args[%d]: %w", i, err)
			}
		}
		if err := walkData(m.Result, fix); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if !hasOther(m) {
		return nil
	}
	var err error
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() != nil && fd.Number() != msgArgs && fd.Number() != msgResult {
			err = walkField(fd, v, fix)
		}
		return err == nil
	})
	return err
}

// walkData checks the strings of d and of the values it holds; with fix,
// it gives a map entry without a value an empty one.
func walkData(d *kervipb.Data, fix bool) error {
	switch k := d.GetKind().(type) {
	case *kervipb.Data_String_:
		return validText("kervi.v1.Data.string", k.String_)
	case *kervipb.Data_List:
		for _, it := range k.List.GetItems() {
			if err := walkData(it, fix); err != nil {
				return err
			}
		}
	case *kervipb.Data_Map:
		for key, v := range k.Map.GetEntries() {
			if err := validText("kervi.v1.Map.entries key", key); err != nil {
				return err
			}
			if v == nil && fix {
				k.Map.Entries[key] = &kervipb.Data{}
			}
			if err := walkData(v, fix); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkField checks the strings in field fd of value v, and in the messages
// it holds; with fix, it gives a map entry without a value an empty one.
func walkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, fix bool) error {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if err := walkValue(fd, l.Get(i), fix); err != nil {
				return err
			}
		}
		return nil
	case fd.IsMap():
		var err error
		var empty []protoreflect.MapKey
		mp := v.Map()
		mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			if err = walkValue(fd.MapKey(), k.Value(), fix); err != nil {
				return false
			}
			if fd.MapValue().Message() != nil && !v.Message().IsValid() {
				empty = append(empty, k)
				return true
			}
			err = walkValue(fd.MapValue(), v, fix)
			return err == nil
		})
		if fix {
			for _, k := range empty {
				mp.Set(k, mp.NewValue())
			}
		}
		return err
	}
	return walkValue(fd, v, fix)
}

func walkValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, fix bool) error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return validText(string(fd.FullName()), v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		var err error
		v.Message().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			err = walkField(fd, v, fix)
			return err == nil
		})
		return err
	}
	return nil
}

// validText refuses s if it is not valid UTF-8; field names it.
func validText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("wirecodec: %s: string is not valid UTF-8", field)
	}
	return nil
}
