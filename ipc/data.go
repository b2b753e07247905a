package ipc

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Action arguments and results cross processes as kervipb.Data. These Go
// types convert: nil, bool, every int and uint kind, float32, float64,
// string, []byte, time.Time (as a timestamp in nanoseconds; the zero time
// as null), time.Duration, pointers (nil as null), slices and arrays,
// maps with string keys, and structs (see below); named types convert by
// their underlying kind. Channels, functions, complex numbers and
// interfaces other than any do not, nor do recursive types. Strings (and
// map keys) must be valid UTF-8; binary data crosses as []byte.
//
// A struct crosses as a map of its exported fields, named and chosen as
// encoding/json does: a field's json tag names it ("-" leaves it out,
// omitempty and omitzero leave it out when empty or zero), and the fields
// of embedded structs are promoted. A struct decodes by field name;
// entries no field takes are ignored, fields no entry names keep their
// zero value.
//
// A type that implements encoding.TextMarshaler (other than time.Time)
// crosses as the string its MarshalText returns, as encoding/json sends
// it: a named state such as kervi.ModuleState arrives as "ready", not as a
// number. It decodes from a string with its UnmarshalText (on the
// pointer), and from what its underlying kind takes otherwise. The json
// package's Marshaler and Unmarshaler interfaces play no part.

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	anyType      = reflect.TypeFor[any]()

	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// maxDepth bounds how deep data may nest: a value that refers to itself
// through an any would nest forever.
const maxDepth = 256

// encode converts x to its wire form.
func encode(x any) (*kervipb.Data, error) {
	if x == nil {
		return &kervipb.Data{Kind: &kervipb.Data_Null{Null: true}}, nil
	}
	switch x := x.(type) { // the common cases, without reflection
	case bool:
		return &kervipb.Data{Kind: &kervipb.Data_Bool{Bool: x}}, nil
	case int:
		return &kervipb.Data{Kind: &kervipb.Data_Int{Int: int64(x)}}, nil
	case int64:
		return &kervipb.Data{Kind: &kervipb.Data_Int{Int: x}}, nil
	case float64:
		return &kervipb.Data{Kind: &kervipb.Data_Float{Float: x}}, nil
	case string:
		return encodeString(x)
	case time.Time:
		return encodeTime(x)
	case time.Duration:
		return &kervipb.Data{Kind: &kervipb.Data_Duration{Duration: int64(x)}}, nil
	case []byte:
		return &kervipb.Data{Kind: &kervipb.Data_Bytes{Bytes: x}}, nil
	case Value:
		return encode(x.Any())
	}
	return encodeValue(reflect.ValueOf(x), 0)
}

// The range of instants a timestamp in nanoseconds holds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// encodeTime converts an instant to its wire form: nanoseconds since the
// epoch, or null for the zero time.
func encodeTime(t time.Time) (*kervipb.Data, error) {
	if t.IsZero() {
		return &kervipb.Data{Kind: &kervipb.Data_Null{Null: true}}, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, &dataError{msg: fmt.Sprintf("time %s is outside the years 1678 to 2262 that timestamps hold", t.Format(time.RFC3339))}
	}
	return &kervipb.Data{Kind: &kervipb.Data_Time{Time: t.UnixNano()}}, nil
}

func encodeValue(v reflect.Value, depth int) (*kervipb.Data, error) {
	if depth > maxDepth {
		return nil, &dataError{msg: fmt.Sprintf("data nested deeper than %d levels (does it refer to itself?)", maxDepth)}
	}
	t := v.Type()
	switch t {
	case timeType:
		return encodeTime(v.Interface().(time.Time))
	case durationType:
		return &kervipb.Data{Kind: &kervipb.Data_Duration{Duration: v.Int()}}, nil
	}
	if isText(t) {
		return encodeText(v)
	}
	switch t.Kind() {
	case reflect.Bool:
		return &kervipb.Data{Kind: &kervipb.Data_Bool{Bool: v.Bool()}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &kervipb.Data{Kind: &kervipb.Data_Int{Int: v.Int()}}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &kervipb.Data{Kind: &kervipb.Data_Uint{Uint: v.Uint()}}, nil
	case reflect.Float32, reflect.Float64:
		return &kervipb.Data{Kind: &kervipb.Data_Float{Float: v.Float()}}, nil
	case reflect.String:
		return encodeString(v.String())
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return encode(nil)
		}
		return encodeValue(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return &kervipb.Data{Kind: &kervipb.Data_Bytes{Bytes: v.Bytes()}}, nil
		}
		if t.Kind() == reflect.Slice && v.IsNil() {
			return encode(nil)
		}
		items := make([]*kervipb.Data, v.Len())
		for i := range items {
			d, err := encodeValue(v.Index(i), depth+1)
			if err != nil {
				return nil, atIndex(err, i)
			}
			items[i] = d
		}
		return &kervipb.Data{Kind: &kervipb.Data_List{List: &kervipb.List{Items: items}}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, &dataError{msg: fmt.Sprintf("%s: map keys must be strings", t)}
		}
		if v.IsNil() {
			return encode(nil)
		}
		entries := make(map[string]*kervipb.Data, v.Len())
		it := v.MapRange()
		for it.Next() {
			k := it.Key().String()
			if !utf8.ValidString(k) {
				return nil, &dataError{msg: fmt.Sprintf("map key %q is not valid UTF-8", validText(k))}
			}
			d, err := encodeValue(it.Value(), depth+1)
			if err != nil {
				return nil, atName(err, k)
			}
			entries[k] = d
		}
		return &kervipb.Data{Kind: &kervipb.Data_Map{Map: &kervipb.Map{Entries: entries}}}, nil
	case reflect.Struct:
		return encodeStruct(v, depth)
	}
	return nil, &dataError{msg: fmt.Sprintf("type %s cannot cross processes", t)}
}

func encodeString(s string) (*kervipb.Data, error) {
	if !utf8.ValidString(s) {
		return nil, &dataError{msg: fmt.Sprintf("string %s is not valid UTF-8 (send binary data as []byte)", shorten(validText(s)))}
	}
	return &kervipb.Data{Kind: &kervipb.Data_String_{String_: s}}, nil
}

// encodeArgs converts call arguments to their wire form. The error names
// the argument that does not convert, and where in it.
func encodeArgs(args []any) ([]*kervipb.Data, error) {
	out := make([]*kervipb.Data, len(args))
	for i, a := range args {
		d, err := encode(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out[i] = d
	}
	return out, nil
}

// decode converts wire data to its natural Go value: nil, bool, int64,
// uint64, float64, string, []byte, time.Time, time.Duration, []any or
// map[string]any (a struct arrives as a map of its fields).
func decode(d *kervipb.Data) any {
	switch k := d.GetKind().(type) {
	case *kervipb.Data_Bool:
		return k.Bool
	case *kervipb.Data_Int:
		return k.Int
	case *kervipb.Data_Uint:
		return k.Uint
	case *kervipb.Data_Float:
		return k.Float
	case *kervipb.Data_String_:
		return k.String_
	case *kervipb.Data_Bytes:
		return k.Bytes
	case *kervipb.Data_Time:
		return time.Unix(0, k.Time)
	case *kervipb.Data_Duration:
		return time.Duration(k.Duration)
	case *kervipb.Data_List:
		out := make([]any, len(k.List.GetItems()))
		for i, it := range k.List.GetItems() {
			out[i] = decode(it)
		}
		return out
	case *kervipb.Data_Map:
		out := make(map[string]any, len(k.Map.GetEntries()))
		for key, it := range k.Map.GetEntries() {
			out[key] = decode(it)
		}
		return out
	}
	return nil
}

// decodeTo converts wire data to a Go value of type t. Numbers convert
// between kinds when the value fits exactly (3.0 into an int, 3 into a
// float64); null converts to a nil pointer, slice, map or interface, and
// to the zero time.Time or struct; nothing else converts. The error
// matches ErrBadArgs and says where in the data it arose, such as
// `field "pos.x": want a number, got a string ("left")`.
func decodeTo(d *kervipb.Data, t reflect.Type) (reflect.Value, error) {
	out := reflect.New(t).Elem()
	if err := decodeInto(d, out); err != nil {
		return reflect.Value{}, err
	}
	return out, nil
}

// isText reports whether values of t cross as the text of their
// MarshalText: t implements encoding.TextMarshaler and is not a pointer or
// an interface (those cross as what they hold).
func isText(t reflect.Type) bool {
	return t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface && t.Implements(textMarshalerType)
}

// encodeText converts v, whose type implements encoding.TextMarshaler,
// to the string of its MarshalText.
func encodeText(v reflect.Value) (*kervipb.Data, error) {
	b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	if err != nil {
		return nil, &dataError{msg: fmt.Sprintf("%s: MarshalText: %v", v.Type(), err)}
	}
	return encodeString(string(b))
}

// decodeInto decodes d into out, a settable value.
func decodeInto(d *kervipb.Data, out reflect.Value) error {
	t := out.Type()
	bad := func() error {
		return &dataError{msg: "want " + wantName(t) + ", got " + gotName(d)}
	}
	if t == anyType {
		if x := decode(d); x != nil {
			out.Set(reflect.ValueOf(x))
		}
		return nil
	}
	if _, isNull := d.GetKind().(*kervipb.Data_Null); isNull || d.GetKind() == nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Map, reflect.Interface, reflect.Pointer, reflect.Struct:
			out.SetZero()
			return nil
		}
		return bad()
	}
	switch t {
	case timeType:
		if k, ok := d.Kind.(*kervipb.Data_Time); ok {
			out.Set(reflect.ValueOf(time.Unix(0, k.Time)))
			return nil
		}
		return bad()
	case durationType:
		switch k := d.Kind.(type) {
		case *kervipb.Data_Duration:
			out.SetInt(k.Duration)
			return nil
		case *kervipb.Data_Int:
			out.SetInt(k.Int)
			return nil
		}
		return bad()
	}
	if k, ok := d.Kind.(*kervipb.Data_String_); ok && reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if err := out.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k.String_)); err != nil {
			return &dataError{msg: fmt.Sprintf("want %s: %v", wantName(t), err)}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		if k, ok := d.Kind.(*kervipb.Data_Bool); ok {
			out.SetBool(k.Bool)
			return nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var n int64
		switch k := d.Kind.(type) {
		case *kervipb.Data_Int:
			n = k.Int
		case *kervipb.Data_Uint:
			if k.Uint > math.MaxInt64 {
				return bad()
			}
			n = int64(k.Uint)
		case *kervipb.Data_Float:
			if k.Float != math.Trunc(k.Float) || math.Abs(k.Float) > 1<<53 {
				return bad()
			}
			n = int64(k.Float)
		default:
			return bad()
		}
		if out.OverflowInt(n) {
			return bad()
		}
		out.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var n uint64
		switch k := d.Kind.(type) {
		case *kervipb.Data_Uint:
			n = k.Uint
		case *kervipb.Data_Int:
			if k.Int < 0 {
				return bad()
			}
			n = uint64(k.Int)
		case *kervipb.Data_Float:
			if k.Float != math.Trunc(k.Float) || k.Float < 0 || k.Float > 1<<53 {
				return bad()
			}
			n = uint64(k.Float)
		default:
			return bad()
		}
		if out.OverflowUint(n) {
			return bad()
		}
		out.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		switch k := d.Kind.(type) {
		case *kervipb.Data_Float:
			out.SetFloat(k.Float)
		case *kervipb.Data_Int:
			out.SetFloat(float64(k.Int))
		case *kervipb.Data_Uint:
			out.SetFloat(float64(k.Uint))
		default:
			return bad()
		}
		return nil
	case reflect.String:
		if k, ok := d.Kind.(*kervipb.Data_String_); ok {
			out.SetString(k.String_)
			return nil
		}
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := decodeInto(d, p.Elem()); err != nil {
			return err
		}
		out.Set(p)
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if k, ok := d.Kind.(*kervipb.Data_Bytes); ok {
				out.SetBytes(append([]byte(nil), k.Bytes...))
				return nil
			}
		}
		k, ok := d.Kind.(*kervipb.Data_List)
		if !ok {
			return bad()
		}
		items := k.List.GetItems()
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := decodeInto(it, s.Index(i)); err != nil {
				return atIndex(err, i)
			}
		}
		out.Set(s)
		return nil
	case reflect.Array:
		k, ok := d.Kind.(*kervipb.Data_List)
		if !ok || len(k.List.GetItems()) != t.Len() {
			return bad()
		}
		for i, it := range k.List.GetItems() {
			if err := decodeInto(it, out.Index(i)); err != nil {
				return atIndex(err, i)
			}
		}
		return nil
	case reflect.Map:
		k, ok := d.Kind.(*kervipb.Data_Map)
		if !ok || t.Key().Kind() != reflect.String {
			return bad()
		}
		m := reflect.MakeMapWithSize(t, len(k.Map.GetEntries()))
		for key, it := range k.Map.GetEntries() {
			v := reflect.New(t.Elem()).Elem()
			if err := decodeInto(it, v); err != nil {
				return atName(err, key)
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), v)
		}
		out.Set(m)
		return nil
	case reflect.Struct:
		k, ok := d.Kind.(*kervipb.Data_Map)
		if !ok {
			return bad()
		}
		return decodeStruct(k.Map.GetEntries(), out)
	}
	return bad()
}

// CanDecodeTo reports whether values of type t can be decoded from the
// wire, so that actions can check their signatures when they register
// (DescribeData says why not).
func CanDecodeTo(t reflect.Type) bool {
	_, err := DescribeData(t)
	return err == nil
}

// shorten cuts s to about 40 bytes for an error message, at a rune
// boundary, so that valid text stays valid.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// Convert converts x to a Go value of type t as if x crossed processes:
// as an action's result reaches a caller that wants a t. It fails as a
// conversion of crossing data does, with an error that matches ErrBadArgs
// and names where in x it arose.
func Convert(x any, t reflect.Type) (reflect.Value, error) {
	d, err := encode(x)
	if err != nil {
		return reflect.Value{}, err
	}
	return decodeTo(d, t)
}
