package ipc

import (
	"fmt"
	"math"
	"reflect"
	"time"
	"unicode/utf8"

	"github.com/kervi/kervi-go/proto/kervipb"
)

// Action arguments and results cross processes as kervipb.Data. These Go
// types convert: nil, bool, every int and uint kind, float32, float64,
// string, []byte, time.Time, time.Duration, slices and arrays of those, and
// maps with string keys; named types convert by their underlying kind.
// Structs, pointers, channels and functions do not. Strings (and map
// keys) must be valid UTF-8; binary data crosses as []byte.

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	bytesType    = reflect.TypeFor[[]byte]()
	anyType      = reflect.TypeFor[any]()
)

// Encode converts x to its wire form.
func Encode(x any) (*kervipb.Data, error) {
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
		return &kervipb.Data{Kind: &kervipb.Data_Time{Time: x.UnixNano()}}, nil
	case time.Duration:
		return &kervipb.Data{Kind: &kervipb.Data_Duration{Duration: int64(x)}}, nil
	case []byte:
		return &kervipb.Data{Kind: &kervipb.Data_Bytes{Bytes: x}}, nil
	case Value:
		return Encode(x.Any())
	}
	return encodeValue(reflect.ValueOf(x))
}

func encodeValue(v reflect.Value) (*kervipb.Data, error) {
	t := v.Type()
	switch t {
	case timeType:
		return Encode(v.Interface().(time.Time))
	case durationType:
		return &kervipb.Data{Kind: &kervipb.Data_Duration{Duration: v.Int()}}, nil
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
	case reflect.Interface:
		if v.IsNil() {
			return Encode(nil)
		}
		return encodeValue(v.Elem())
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			return &kervipb.Data{Kind: &kervipb.Data_Bytes{Bytes: v.Bytes()}}, nil
		}
		if t.Kind() == reflect.Slice && v.IsNil() {
			return Encode(nil)
		}
		items := make([]*kervipb.Data, v.Len())
		for i := range items {
			d, err := encodeValue(v.Index(i))
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			items[i] = d
		}
		return &kervipb.Data{Kind: &kervipb.Data_List{List: &kervipb.List{Items: items}}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, Errorf(CodeBadArgs, "%s: map keys must be strings", t)
		}
		if v.IsNil() {
			return Encode(nil)
		}
		entries := make(map[string]*kervipb.Data, v.Len())
		it := v.MapRange()
		for it.Next() {
			if k := it.Key().String(); !utf8.ValidString(k) {
				return nil, Errorf(CodeBadArgs, "map key %q is not valid UTF-8", validText(k))
			}
			d, err := encodeValue(it.Value())
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", it.Key().String(), err)
			}
			entries[it.Key().String()] = d
		}
		return &kervipb.Data{Kind: &kervipb.Data_Map{Map: &kervipb.Map{Entries: entries}}}, nil
	case reflect.Pointer:
		if v.IsNil() {
			return Encode(nil)
		}
	}
	return nil, Errorf(CodeBadArgs, "type %s cannot cross processes", t)
}

func encodeString(s string) (*kervipb.Data, error) {
	if !utf8.ValidString(s) {
		return nil, Errorf(CodeBadArgs, "string %s is not valid UTF-8 (send binary data as []byte)", shorten(validText(s)))
	}
	return &kervipb.Data{Kind: &kervipb.Data_String_{String_: s}}, nil
}

// EncodeArgs converts call arguments to their wire form. The error names
// the argument that does not convert.
func EncodeArgs(args []any) ([]*kervipb.Data, error) {
	out := make([]*kervipb.Data, len(args))
	for i, a := range args {
		d, err := Encode(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		out[i] = d
	}
	return out, nil
}

// Decode converts wire data to its natural Go value: nil, bool, int64,
// uint64, float64, string, []byte, time.Time, time.Duration, []any or
// map[string]any.
func Decode(d *kervipb.Data) any {
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
			out[i] = Decode(it)
		}
		return out
	case *kervipb.Data_Map:
		out := make(map[string]any, len(k.Map.GetEntries()))
		for key, it := range k.Map.GetEntries() {
			out[key] = Decode(it)
		}
		return out
	}
	return nil
}

// kindName names the kind of wire data for error messages.
func kindName(d *kervipb.Data) string {
	switch d.GetKind().(type) {
	case *kervipb.Data_Bool:
		return "bool"
	case *kervipb.Data_Int:
		return "int"
	case *kervipb.Data_Uint:
		return "uint"
	case *kervipb.Data_Float:
		return "float"
	case *kervipb.Data_String_:
		return "string"
	case *kervipb.Data_Bytes:
		return "bytes"
	case *kervipb.Data_Time:
		return "time"
	case *kervipb.Data_Duration:
		return "duration"
	case *kervipb.Data_List:
		return "list"
	case *kervipb.Data_Map:
		return "map"
	}
	return "nil"
}

// DecodeTo converts wire data to a Go value of type t. Numbers convert
// between kinds when the value fits exactly (3.0 into an int, 3 into a
// float64); nothing else converts.
func DecodeTo(d *kervipb.Data, t reflect.Type) (reflect.Value, error) {
	bad := func() (reflect.Value, error) {
		return reflect.Value{}, Errorf(CodeBadArgs, "cannot use %s %s as %s", kindName(d), dataString(d), t)
	}
	if t == anyType {
		x := Decode(d)
		if x == nil {
			return reflect.Zero(t), nil
		}
		return reflect.ValueOf(x), nil
	}
	if _, isNull := d.GetKind().(*kervipb.Data_Null); isNull || d.GetKind() == nil {
		switch t.Kind() {
		case reflect.Slice, reflect.Map, reflect.Interface, reflect.Pointer:
			return reflect.Zero(t), nil
		}
		return bad()
	}
	switch t {
	case timeType:
		if k, ok := d.Kind.(*kervipb.Data_Time); ok {
			return reflect.ValueOf(time.Unix(0, k.Time)), nil
		}
		return bad()
	case durationType:
		switch k := d.Kind.(type) {
		case *kervipb.Data_Duration:
			return reflect.ValueOf(time.Duration(k.Duration)), nil
		case *kervipb.Data_Int:
			return reflect.ValueOf(time.Duration(k.Int)), nil
		}
		return bad()
	}
	out := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.Bool:
		if k, ok := d.Kind.(*kervipb.Data_Bool); ok {
			out.SetBool(k.Bool)
			return out, nil
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
		return out, nil
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
		return out, nil
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
		return out, nil
	case reflect.String:
		if k, ok := d.Kind.(*kervipb.Data_String_); ok {
			out.SetString(k.String_)
			return out, nil
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if k, ok := d.Kind.(*kervipb.Data_Bytes); ok {
				out.SetBytes(append([]byte(nil), k.Bytes...))
				return out, nil
			}
		}
		k, ok := d.Kind.(*kervipb.Data_List)
		if !ok {
			return bad()
		}
		items := k.List.GetItems()
		out = reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			v, err := DecodeTo(it, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("item %d: %w", i, err)
			}
			out.Index(i).Set(v)
		}
		return out, nil
	case reflect.Array:
		k, ok := d.Kind.(*kervipb.Data_List)
		if !ok || len(k.List.GetItems()) != t.Len() {
			return bad()
		}
		for i, it := range k.List.GetItems() {
			v, err := DecodeTo(it, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("item %d: %w", i, err)
			}
			out.Index(i).Set(v)
		}
		return out, nil
	case reflect.Map:
		k, ok := d.Kind.(*kervipb.Data_Map)
		if !ok || t.Key().Kind() != reflect.String {
			return bad()
		}
		out = reflect.MakeMapWithSize(t, len(k.Map.GetEntries()))
		for key, it := range k.Map.GetEntries() {
			v, err := DecodeTo(it, t.Elem())
			if err != nil {
				return reflect.Value{}, fmt.Errorf("key %q: %w", key, err)
			}
			out.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), v)
		}
		return out, nil
	}
	return bad()
}

// CanDecodeTo reports whether values of type t can be decoded from the
// wire, so that actions can check their signatures when they register.
func CanDecodeTo(t reflect.Type) bool {
	if t == anyType || t == timeType || t == durationType || t == bytesType {
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	case reflect.Slice, reflect.Array:
		return CanDecodeTo(t.Elem())
	case reflect.Map:
		return t.Key().Kind() == reflect.String && CanDecodeTo(t.Elem())
	}
	return false
}

// dataString shows short data in error messages.
func dataString(d *kervipb.Data) string {
	return shorten(fmt.Sprintf("%v", Decode(d)))
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
