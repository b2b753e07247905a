package ipc

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Structs cross processes as maps of their fields; see the comment on
// Encode's conversions in data.go. This file also describes the Go types
// of actions' parameters and results (DescribeData), and the conversion
// errors that say where in the data they arose.

// dataError is a conversion error at a place inside the data: path is a
// struct field or map key, a list item, or a path through them, such as
// "pos.x" or "points[2].x".
type dataError struct {
	path string
	msg  string
}

// Error implements error.
func (e *dataError) Error() string {
	switch {
	case e.path == "":
		return e.msg
	case e.path[0] == '[':
		return "item " + e.path + ": " + e.msg
	}
	return "field " + strconv.Quote(e.path) + ": " + e.msg
}

// Is makes conversion errors match ErrBadArgs.
func (e *dataError) Is(target error) bool { return target == ErrBadArgs }

// atName returns err as an error inside the field or map entry name.
func atName(err error, name string) error {
	e, ok := err.(*dataError)
	if !ok {
		return &dataError{path: name, msg: err.Error()}
	}
	switch {
	case e.path == "":
		return &dataError{path: name, msg: e.msg}
	case e.path[0] == '[':
		return &dataError{path: name + e.path, msg: e.msg}
	}
	return &dataError{path: name + "." + e.path, msg: e.msg}
}

// atIndex returns err as an error inside list item i.
func atIndex(err error, i int) error {
	e, ok := err.(*dataError)
	if !ok {
		e = &dataError{msg: err.Error()}
	}
	p := "[" + strconv.Itoa(i) + "]"
	switch {
	case e.path == "":
	case e.path[0] == '[':
		p += e.path
	default:
		p += "." + e.path
	}
	return &dataError{path: p, msg: e.msg}
}

// wantName names what a Go type takes, for conversion errors.
func wantName(t reflect.Type) string {
	switch t {
	case timeType:
		return "a time"
	case durationType:
		return "a duration"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer that fits " + t.String()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a non-negative integer that fits " + t.String()
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "bytes or a list"
		}
		return "a list"
	case reflect.Array:
		return "a list of " + strconv.Itoa(t.Len()) + " items"
	case reflect.Map:
		return "a map"
	case reflect.Struct:
		return "a struct (a map of its fields)"
	case reflect.Pointer:
		return wantName(t.Elem())
	}
	return t.String()
}

// gotName names the wire data a conversion got, with short content.
func gotName(d *kervipb.Data) string {
	switch k := d.GetKind().(type) {
	case *kervipb.Data_Bool:
		return "a bool (" + strconv.FormatBool(k.Bool) + ")"
	case *kervipb.Data_Int:
		return "an integer (" + strconv.FormatInt(k.Int, 10) + ")"
	case *kervipb.Data_Uint:
		return "an integer (" + strconv.FormatUint(k.Uint, 10) + ")"
	case *kervipb.Data_Float:
		return "a number (" + strconv.FormatFloat(k.Float, 'g', -1, 64) + ")"
	case *kervipb.Data_String_:
		return "a string (" + strconv.Quote(shorten(k.String_)) + ")"
	case *kervipb.Data_Bytes:
		return "bytes"
	case *kervipb.Data_Time:
		return "a time (" + time.Unix(0, k.Time).UTC().Format(time.RFC3339Nano) + ")"
	case *kervipb.Data_Duration:
		return "a duration (" + time.Duration(k.Duration).String() + ")"
	case *kervipb.Data_List:
		return "a list of " + strconv.Itoa(len(k.List.GetItems())) + " items"
	case *kervipb.Data_Map:
		return "a map"
	}
	return "null"
}

// structField is a field of a struct that crosses processes.
type structField struct {
	name      string
	index     []int // through embedded structs
	typ       reflect.Type
	tagged    bool
	omitEmpty bool
	omitZero  bool
}

// structFields caches the fields of struct types.
var structFields sync.Map // reflect.Type → []structField

// fieldsOf returns the fields of struct type t that cross processes, in
// order, chosen and named as encoding/json chooses and names them.
func fieldsOf(t reflect.Type) []structField {
	if f, ok := structFields.Load(t); ok {
		return f.([]structField)
	}
	f, _ := structFields.LoadOrStore(t, typeFields(t))
	return f.([]structField)
}

// typeFields finds the fields of t as encoding/json does: exported fields
// and those of embedded structs, breadth first; of fields with the same
// name, the shallowest wins, then a tagged one; a tie drops them all.
func typeFields(t reflect.Type) []structField {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var current, next []queued
	next = []queued{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []structField
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := range q.typ.NumField() {
				sf := q.typ.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						if !sf.IsExported() {
							continue // cannot be allocated when decoding
						}
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(append([]int(nil), q.index...), i)
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct || ft == timeType {
					f := structField{name: name, index: index, typ: sf.Type, tagged: name != "",
						omitEmpty: hasOption(opts, "omitempty"), omitZero: hasOption(opts, "omitzero")}
					if f.name == "" {
						f.name = sf.Name
					}
					fields = append(fields, f)
					if count[q.typ] > 1 {
						// The struct is embedded more than once at this
						// depth: its fields tie with themselves.
						fields = append(fields, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, queued{typ: ft, index: index})
				}
			}
		}
	}
	slices.SortStableFunc(fields, func(a, b structField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := len(a.index) - len(b.index); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		group := fields[i:j]
		if len(group) == 1 || len(group[0].index) < len(group[1].index) || group[0].tagged && !group[1].tagged {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b structField) int { return slices.Compare(a.index, b.index) })
	return out
}

func hasOption(opts, name string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == name {
			return true
		}
	}
	return false
}

// fieldValue returns the field at index in v, or false if the path goes
// through a nil embedded pointer.
func fieldValue(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// settableField returns the field at index in v, allocating the embedded
// pointers on the way.
func settableField(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// isEmpty reports whether omitempty leaves v out, as encoding/json does.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZero reports whether omitzero leaves v out: its IsZero method says so,
// or it is its type's zero value.
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

func encodeStruct(v reflect.Value, depth int) (*kervipb.Data, error) {
	fields := fieldsOf(v.Type())
	entries := make(map[string]*kervipb.Data, len(fields))
	for _, f := range fields {
		fv, ok := fieldValue(v, f.index)
		if !ok || f.omitEmpty && isEmpty(fv) || f.omitZero && isZero(fv) {
			continue
		}
		d, err := encodeValue(fv, depth+1)
		if err != nil {
			return nil, atName(err, f.name)
		}
		entries[f.name] = d
	}
	return &kervipb.Data{Kind: &kervipb.Data_Map{Map: &kervipb.Map{Entries: entries}}}, nil
}

// decodeStruct sets the fields of out that entries name; other entries
// are ignored.
func decodeStruct(entries map[string]*kervipb.Data, out reflect.Value) error {
	out.SetZero()
	for _, f := range fieldsOf(out.Type()) {
		d, ok := entries[f.name]
		if !ok {
			continue
		}
		if err := decodeInto(d, settableField(out, f.index)); err != nil {
			return atName(err, f.name)
		}
	}
	return nil
}

// DescribeData describes the data of Go type t as it crosses processes,
// for the description of an action's parameters and result. It fails,
// naming the culprit, for a type that cannot cross processes: channels,
// functions, complex numbers, interfaces other than any, maps whose keys
// are not strings, and recursive types (a struct that contains itself,
// through pointers, slices or maps).
func DescribeData(t reflect.Type) (DataType, error) {
	if t == nil {
		return DataType{}, &dataError{msg: "nil type"}
	}
	return describeData(t, nil)
}

func describeData(t reflect.Type, outer []reflect.Type) (DataType, error) {
	switch t {
	case anyType:
		return DataType{Kind: DataAny}, nil
	case timeType:
		return DataType{Kind: DataTime}, nil
	case durationType:
		return DataType{Kind: DataDuration}, nil
	}
	if isText(t) {
		return DataType{Kind: DataString, Name: t.Name()}, nil
	}
	if slices.Contains(outer, t) {
		return DataType{}, &dataError{msg: fmt.Sprintf("type %s contains itself; recursive types cannot cross processes", t)}
	}
	outer = append(outer, t)
	dt := DataType{}
	if t.PkgPath() != "" {
		dt.Name = t.Name()
	}
	switch t.Kind() {
	case reflect.Bool:
		dt.Kind = DataBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		dt.Kind = DataInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		dt.Kind = DataUint
	case reflect.Float32, reflect.Float64:
		dt.Kind = DataFloat
	case reflect.String:
		dt.Kind = DataString
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			dt.Kind = DataBytes
			break
		}
		elem, err := describeData(t.Elem(), outer)
		if err != nil {
			return DataType{}, err
		}
		dt.Kind, dt.Elem = DataList, &elem
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return DataType{}, &dataError{msg: fmt.Sprintf("type %s cannot cross processes: map keys must be strings", t)}
		}
		elem, err := describeData(t.Elem(), outer)
		if err != nil {
			return DataType{}, err
		}
		dt.Kind, dt.Elem = DataMap, &elem
	case reflect.Pointer:
		elem, err := describeData(t.Elem(), outer)
		if err != nil {
			return DataType{}, err
		}
		return elem, nil
	case reflect.Struct:
		dt.Kind = DataStruct
		dt.Fields = []Field{} // a struct with no fields still is one
		for _, f := range fieldsOf(t) {
			ft, err := describeData(f.typ, outer)
			if err != nil {
				return DataType{}, atName(err, f.name)
			}
			dt.Fields = append(dt.Fields, Field{Name: f.name, Type: ft})
		}
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return DataType{Kind: DataAny, Name: dt.Name}, nil
		}
		fallthrough
	default:
		return DataType{}, &dataError{msg: fmt.Sprintf("type %s cannot cross processes", t)}
	}
	return dt, nil
}
