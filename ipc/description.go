package ipc

import (
	"fmt"
	"strconv"
)

// Kind is the kind of a component.
type Kind int

// The kinds of components. Values and actions have ids that are read,
// written and called; sensors and controllers group values and actions,
// which name them as their Parent.
const (
	KindValue Kind = iota + 1
	KindAction
	KindSensor
	KindController
)

var kindNames = [...]string{KindValue: "value", KindAction: "action", KindSensor: "sensor", KindController: "controller"}

// String returns the kind's name, such as "value".
func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, n := range kindNames {
		if n != "" && n == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown component kind %q", b)
}

// MarshalText encodes the type as its name, such as "number".
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText decodes a type's name.
func (t *Type) UnmarshalText(b []byte) error {
	for _, c := range []Type{TypeNumber, TypeBool, TypeString, TypeEnum, TypeDateTime, TypeColor} {
		if c.String() == string(b) {
			*t = c
			return nil
		}
	}
	return fmt.Errorf("unknown value type %q", b)
}

// Description describes a component: what the application's catalogue
// holds for its id, and what observers such as a dashboard see. It is the
// one description of a component, in a process, in the catalogue and on
// the wire.
type Description struct {
	// ID is the component's id.
	ID string `json:"id"`
	// Kind is what the component is.
	Kind Kind `json:"kind"`
	// Module is the module that owns the component; set by the hub.
	Module string `json:"module,omitempty"`
	// Node is the machine whose module owns the component, in an
	// application of several nodes (kervi.WithNodes); empty on one
	// machine. Set by the hub.
	Node string `json:"node,omitempty"`
	// Name is the component's name for people, such as "Fan speed".
	Name string `json:"name,omitempty"`
	// Parent is the id of the sensor or controller the component belongs
	// to, if any.
	Parent string `json:"parent,omitempty"`

	// Type is a value's type.
	Type Type `json:"type,omitempty"`
	// Input reports that a value can be written by other components
	// (Bus.Set); an output or a sensor's value cannot.
	Input bool `json:"input,omitempty"`
	// Unit is a number value's unit, such as "°C".
	Unit string `json:"unit,omitempty"`
	// Min and Max bound a number value; nil means unbounded.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Choices are an enum value's options, in order.
	Choices []Choice `json:"choices,omitempty"`

	// Params describe an action's parameters, in order.
	Params []Param `json:"params,omitempty"`
	// Result describes what an action returns; nil if it returns only an
	// error.
	Result *DataType `json:"result,omitempty"`

	// Meta is free-form metadata for observers, such as a dashboard's
	// layout. Keys are namespaced by their user, such as "dashboard";
	// see ValidateMeta. Components set it with their Meta options
	// (values.Meta, actions.Meta, controllers.Meta, sensors.Meta); package
	// dashboard/layout places components on dashboards with it.
	Meta Meta `json:"meta,omitempty"`
}

// Choice is one option of an enum value: what is stored, and what people
// see.
type Choice struct {
	Value string `json:"value"`
	Text  string `json:"text,omitempty"`
}

// Param describes one parameter of an action.
type Param struct {
	// Name is the parameter's name: given by the action's author, or
	// "arg1", "arg2", ... otherwise.
	Name string `json:"name"`
	// Type is what the parameter takes.
	Type DataType `json:"type"`
}

// DataKind is the kind of data an action's parameter or result holds.
type DataKind int

// The kinds of data that cross processes as action arguments and results.
const (
	DataAny DataKind = iota // anything that crosses processes
	DataBool
	DataInt
	DataUint
	DataFloat
	DataString
	DataBytes
	DataTime     // time.Time
	DataDuration // time.Duration
	DataList     // a slice or array of Elem
	DataMap      // a map from strings to Elem
	DataStruct   // a struct's exported fields
)

var dataKindNames = [...]string{DataAny: "any", DataBool: "bool", DataInt: "int", DataUint: "uint",
	DataFloat: "float", DataString: "string", DataBytes: "bytes", DataTime: "time", DataDuration: "duration",
	DataList: "list", DataMap: "map", DataStruct: "struct"}

// String returns the kind's name, such as "float".
func (k DataKind) String() string {
	if k >= 0 && int(k) < len(dataKindNames) {
		return dataKindNames[k]
	}
	return "data(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText encodes the kind as its name.
func (k DataKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a kind's name.
func (k *DataKind) UnmarshalText(b []byte) error {
	for i, n := range dataKindNames {
		if n == string(b) {
			*k = DataKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown data kind %q", b)
}

// DataType describes the data of an action's parameter or result.
type DataType struct {
	Kind DataKind `json:"kind"`
	// Name is the Go type's name, if it has one, such as "Point".
	Name string `json:"name,omitempty"`
	// Elem is the element type of a list, or the value type of a map.
	Elem *DataType `json:"elem,omitempty"`
	// Fields are a struct's fields, in order.
	Fields []Field `json:"fields,omitempty"`
}

// Field is one field of a struct that crosses processes.
type Field struct {
	// Name is the field's name on the wire: its json tag's name if it has
	// one, its Go name otherwise.
	Name string   `json:"name"`
	Type DataType `json:"type"`
}

// Meta is a component's free-form metadata for observers: keys namespaced
// by their user (such as "dashboard"), values of text.
type Meta map[string]string

// Set checks key and value with ValidateMeta and sets them, making the map
// if need be; a later Set of the same key replaces the value. The options
// that put metadata on components (values.Meta, actions.Meta, ...) use it.
func (m *Meta) Set(key, value string) error {
	if err := ValidateMeta(key, value); err != nil {
		return err
	}
	if *m == nil {
		*m = make(Meta)
	}
	(*m)[key] = value
	return nil
}
