package ipc

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Type is the type of a value.
type Type int32

// The value types. Their numbers are the wire's (ValueType in
// proto/kervi.proto).
const (
	TypeNumber   Type = 1
	TypeBool     Type = 2
	TypeString   Type = 3
	TypeEnum     Type = 4
	TypeDateTime Type = 5
	TypeColor    Type = 6
)

// String returns the type's name, such as "number".
func (t Type) String() string {
	switch t {
	case TypeNumber:
		return "number"
	case TypeBool:
		return "bool"
	case TypeString:
		return "string"
	case TypeEnum:
		return "enum"
	case TypeDateTime:
		return "datetime"
	case TypeColor:
		return "color"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Value is the content of a value event: one of the value types and its
// data. The zero Value has no type and means "no value".
type Value struct {
	typ  Type
	num  float64
	flag bool
	text string
	inst int64
}

// NumberValue returns a number Value.
func NumberValue(f float64) Value { return Value{typ: TypeNumber, num: f} }

// BoolValue returns a bool Value.
func BoolValue(b bool) Value { return Value{typ: TypeBool, flag: b} }

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{typ: TypeString, text: s} }

// EnumValue returns an enum Value whose selected option is s.
func EnumValue(s string) Value { return Value{typ: TypeEnum, text: s} }

// DateTimeValue returns a datetime Value.
func DateTimeValue(t time.Time) Value { return Value{typ: TypeDateTime, inst: t.UnixNano()} }

// ColorValue returns a color Value; hex is "#rrggbb".
func ColorValue(hex string) Value { return Value{typ: TypeColor, text: hex} }

// Type returns v's type, or 0 for the zero Value.
func (v Value) Type() Type { return v.typ }

// IsZero reports whether v is the zero Value (no value).
func (v Value) IsZero() bool { return v.typ == 0 }

// Number returns the number of a number Value, and 0 for other types.
func (v Value) Number() float64 { return v.num }

// Bool returns the flag of a bool Value, and false for other types.
func (v Value) Bool() bool { return v.flag }

// Text returns the text of a string, enum or color Value, and "" for other
// types.
func (v Value) Text() string { return v.text }

// Time returns the instant of a datetime Value, and the zero time for other
// types.
func (v Value) Time() time.Time {
	if v.typ != TypeDateTime {
		return time.Time{}
	}
	return time.Unix(0, v.inst)
}

// Any returns v's data as a Go value: float64, bool, string or time.Time,
// or nil for the zero Value.
func (v Value) Any() any {
	switch v.typ {
	case TypeNumber:
		return v.num
	case TypeBool:
		return v.flag
	case TypeString, TypeEnum, TypeColor:
		return v.text
	case TypeDateTime:
		return v.Time()
	}
	return nil
}

// String formats v for people and logs.
func (v Value) String() string {
	switch v.typ {
	case TypeNumber:
		return strconv.FormatFloat(v.num, 'g', -1, 64)
	case TypeBool:
		return strconv.FormatBool(v.flag)
	case TypeString, TypeEnum, TypeColor:
		return strconv.Quote(v.text)
	case TypeDateTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case 0:
		return "<none>"
	}
	return fmt.Sprintf("<%v>", v.typ)
}

// ValueOf converts a Go value to a Value: numbers of any kind become a
// number, bool a bool, string a string and time.Time a datetime. Enum and
// color values have no Go type of their own; build them with EnumValue and
// ColorValue. A Value is returned as is.
func ValueOf(x any) (Value, error) {
	switch x := x.(type) {
	case Value:
		return x, nil
	case float64:
		return NumberValue(x), nil
	case float32:
		return NumberValue(float64(x)), nil
	case int:
		return NumberValue(float64(x)), nil
	case int8:
		return NumberValue(float64(x)), nil
	case int16:
		return NumberValue(float64(x)), nil
	case int32:
		return NumberValue(float64(x)), nil
	case int64:
		return NumberValue(float64(x)), nil
	case uint:
		return NumberValue(float64(x)), nil
	case uint8:
		return NumberValue(float64(x)), nil
	case uint16:
		return NumberValue(float64(x)), nil
	case uint32:
		return NumberValue(float64(x)), nil
	case uint64:
		return NumberValue(float64(x)), nil
	case bool:
		return BoolValue(x), nil
	case string:
		return StringValue(x), nil
	case time.Time:
		return DateTimeValue(x), nil
	}
	return Value{}, Errorf(CodeWrongType, "%T is not a value type (number, bool, string, time.Time)", x)
}

// Event is a value's change: which value, its new content and when it
// changed.
type Event struct {
	ID    string
	Value Value
	Time  time.Time
}

// valueFromMsg reads the value fields of an event, set or restore message.
func valueFromMsg(m *kervipb.Msg) Value {
	return Value{typ: Type(m.Type), num: m.Number, flag: m.Flag, text: m.Text, inst: m.Instant}
}

// putValue writes v into the value fields of m.
func putValue(m *kervipb.Msg, v Value) {
	m.Type = kervipb.ValueType(v.typ)
	m.Number = v.num
	m.Flag = v.flag
	m.Text = v.text
	m.Instant = v.inst
}

func eventFromMsg(m *kervipb.Msg) Event {
	return Event{ID: m.Id, Value: valueFromMsg(m), Time: time.Unix(0, m.Ts)}
}

// LogValue implements slog.LogValuer: a logged Value shows its plain
// content, not String's quoted form. Numbers log as numbers, bools as
// bools, string, enum and color text as it is, a datetime as a time, and
// the zero Value as "<none>".
func (v Value) LogValue() slog.Value {
	switch v.typ {
	case TypeNumber:
		return slog.Float64Value(v.num)
	case TypeBool:
		return slog.BoolValue(v.flag)
	case TypeString, TypeEnum, TypeColor:
		return slog.StringValue(v.text)
	case TypeDateTime:
		return slog.TimeValue(v.Time())
	}
	return slog.StringValue(v.String())
}
