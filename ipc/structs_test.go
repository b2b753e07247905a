package ipc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

type point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

type Origin struct {
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

type Extra struct {
	Tags []string
}

type reading struct {
	Origin             // promoted: source, note
	*Extra             // promoted through a pointer: Tags
	At       time.Time `json:"at"`
	Took     time.Duration
	Pos      point             `json:"pos"`
	Path     []point           `json:"path,omitempty"`
	Where    *point            `json:"where"`
	Labels   map[string]string `json:"labels,omitempty"`
	Skipped  string            `json:"-"`
	Count    int               `json:"count,omitzero"`
	Any      any               `json:"any"`
	internal int
}

func roundTrip[T any](t *testing.T, in T) T {
	t.Helper()
	d, err := encode(in)
	if err != nil {
		t.Fatalf("Encode(%+v): %v", in, err)
	}
	v, err := decodeTo(d, reflect.TypeFor[T]())
	if err != nil {
		t.Fatalf("DecodeTo: %v", err)
	}
	return v.Interface().(T)
}

func TestStructsCrossAsMapsOfTheirFields(t *testing.T) {
	at := time.Date(2026, 3, 29, 2, 30, 0, 123, time.UTC)
	in := reading{
		Origin: Origin{Source: "dht22"},
		Extra:  &Extra{Tags: []string{"a", "b"}},
		At:     at, Took: 1500 * time.Millisecond,
		Pos:  point{1, 2},
		Path: []point{{3, 4}, {5, 6}},
		Any:  []any{1, "x"}, Skipped: "not sent", internal: 7,
	}
	d, err := encode(in)
	if err != nil {
		t.Fatal(err)
	}
	// The wire names the fields as encoding/json does.
	m := decode(d).(map[string]any)
	for _, k := range []string{"source", "Tags", "at", "Took", "pos", "path", "where", "any"} {
		if _, ok := m[k]; !ok {
			t.Errorf("field %q missing from %v", k, m)
		}
	}
	for _, k := range []string{"note", "labels", "Skipped", "count", "internal", "Origin", "Extra"} {
		if _, ok := m[k]; ok {
			t.Errorf("field %q should not be sent: %v", k, m)
		}
	}
	if pos := m["pos"].(map[string]any); pos["x"] != 1.0 || pos["y"] != 2.0 {
		t.Errorf("pos = %v", pos)
	}

	out := roundTrip(t, in)
	if !out.At.Equal(at) || out.Took != in.Took || out.Pos != in.Pos || len(out.Path) != 2 || out.Path[1] != (point{5, 6}) ||
		out.Where != nil || out.Source != "dht22" || out.Extra == nil || len(out.Tags) != 2 || out.Skipped != "" || out.internal != 0 {
		t.Fatalf("round trip: %+v", out)
	}
	if a := out.Any.([]any); a[0] != int64(1) || a[1] != "x" {
		t.Errorf("any = %#v", out.Any)
	}

	// Pointers, zero times and zero counts.
	in = reading{Where: &point{7, 8}, Count: 3}
	out = roundTrip(t, in)
	if out.Where == nil || *out.Where != (point{7, 8}) || !out.At.IsZero() || out.Count != 3 || out.Extra != nil {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestStructDecodingIgnoresUnknownFields(t *testing.T) {
	d, err := encode(map[string]any{"x": 1, "y": 2, "z": 3, "X": "other"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeTo(d, reflect.TypeFor[point]())
	if err != nil || v.Interface().(point) != (point{1, 2}) {
		t.Fatalf("decode = %v, %v", v, err)
	}
	// A field no entry names keeps its zero value.
	d, _ = encode(map[string]any{"y": 5})
	v, err = decodeTo(d, reflect.TypeFor[point]())
	if err != nil || v.Interface().(point) != (point{0, 5}) {
		t.Fatalf("decode = %v, %v", v, err)
	}
}

func TestDecodingErrorsSayWhere(t *testing.T) {
	type shape struct {
		Name   string  `json:"name"`
		Pos    point   `json:"pos"`
		Points []point `json:"points"`
	}
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]any{"pos": map[string]any{"x": "left"}}, `field "pos.x": want a number, got a string ("left")`},
		{map[string]any{"points": []any{map[string]any{}, map[string]any{"y": true}}}, `field "points[1].y": want a number, got a bool (true)`},
		{map[string]any{"name": 3}, `field "name": want a string, got an integer (3)`},
		{map[string]any{"pos": []any{1, 2}}, `field "pos": want a struct (a map of its fields), got a list of 2 items`},
		{"square", `want a struct (a map of its fields), got a string ("square")`},
	} {
		d, err := encode(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = decodeTo(d, reflect.TypeFor[shape]())
		if !errors.Is(err, ErrBadArgs) || err.Error() != tc.want {
			t.Errorf("decode %v: %v; want %s", tc.in, err, tc.want)
		}
	}
	d, _ := encode([]any{map[string]any{"x": 1}, map[string]any{"x": "a"}})
	if _, err := decodeTo(d, reflect.TypeFor[[]point]()); err == nil || err.Error() != `item [1].x: want a number, got a string ("a")` {
		t.Errorf("list: %v", err)
	}
}

func TestEncodingErrorsSayWhere(t *testing.T) {
	type inner struct{ C chan int }
	type outer struct {
		In   []inner `json:"in"`
		Text string  `json:"text"`
	}
	_, err := encode(outer{In: []inner{{}, {}}})
	if !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), `field "in[0].C": type chan int cannot cross processes`) {
		t.Errorf("chan field: %v", err)
	}
	_, err = encode(outer{Text: "caf\xe9"})
	if !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), `field "text"`) {
		t.Errorf("invalid text: %v", err)
	}
	// A value that contains itself through an any does not loop forever.
	loop := map[string]any{}
	loop["self"] = loop
	if _, err := encode(loop); !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("loop: %v", err)
	}
	if _, err := encode(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrBadArgs) {
		t.Errorf("year 3000: %v", err)
	}
}

func TestEmbeddedFieldsFollowEncodingJSON(t *testing.T) {
	type A struct{ Name, Only string }
	type B struct {
		Name string
		Tag  string `json:"tagged"`
	}
	type both struct {
		A
		B
		Name string // shallower: wins over A.Name and B.Name
	}
	d, err := encode(both{A: A{Name: "a", Only: "o"}, B: B{Name: "b", Tag: "t"}, Name: "top"})
	if err != nil {
		t.Fatal(err)
	}
	m := decode(d).(map[string]any)
	if m["Name"] != "top" || m["Only"] != "o" || m["tagged"] != "t" || len(m) != 3 {
		t.Errorf("both = %v", m)
	}
	type tie struct {
		A
		B // A.Name and B.Name tie at one depth: neither is sent
	}
	d, _ = encode(tie{A: A{Name: "a", Only: "o"}, B: B{Name: "b", Tag: "t"}})
	if m := decode(d).(map[string]any); len(m) != 2 || m["Only"] != "o" || m["tagged"] != "t" {
		t.Errorf("tie = %v", m)
	}
}

func TestDescribeData(t *testing.T) {
	dt, err := DescribeData(reflect.TypeFor[reading]())
	if err != nil {
		t.Fatal(err)
	}
	if dt.Kind != DataStruct || dt.Name != "reading" {
		t.Fatalf("reading: %+v", dt)
	}
	fields := map[string]DataType{}
	var names []string
	for _, f := range dt.Fields {
		fields[f.Name] = f.Type
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "source note Tags at Took pos path where labels count any" {
		t.Errorf("fields: %s", got)
	}
	if fields["at"].Kind != DataTime || fields["Took"].Kind != DataDuration || fields["any"].Kind != DataAny {
		t.Errorf("fields: %+v", fields)
	}
	if p := fields["path"]; p.Kind != DataList || p.Elem.Kind != DataStruct || p.Elem.Name != "point" || p.Elem.Fields[0].Name != "x" || p.Elem.Fields[0].Type.Kind != DataFloat {
		t.Errorf("path: %+v", p)
	}
	if w := fields["where"]; w.Kind != DataStruct { // a pointer is described by what it points to
		t.Errorf("where: %+v", w)
	}
	if l := fields["labels"]; l.Kind != DataMap || l.Elem.Kind != DataString {
		t.Errorf("labels: %+v", l)
	}
	if b, _ := DescribeData(reflect.TypeFor[[]byte]()); b.Kind != DataBytes {
		t.Errorf("[]byte: %+v", b)
	}

	type node struct {
		Value    int
		Children []node
	}
	type holder struct {
		Root *node `json:"root"`
	}
	for _, tc := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[holder](), `field "root.Children": type ipc.node contains itself`},
		{reflect.TypeFor[chan int](), "type chan int cannot cross processes"},
		{reflect.TypeFor[struct{ C complex64 }](), `field "C": type complex64 cannot cross processes`},
		{reflect.TypeFor[map[int]string](), "map keys must be strings"},
		{reflect.TypeFor[error](), "type error cannot cross processes"},
	} {
		if _, err := DescribeData(tc.t); !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DescribeData(%s) = %v; want %q", tc.t, err, tc.want)
		}
		if CanDecodeTo(tc.t) {
			t.Errorf("CanDecodeTo(%s)", tc.t)
		}
	}
}

func TestNullDecodesToZero(t *testing.T) {
	null := &kervipb.Data{Kind: &kervipb.Data_Null{Null: true}}
	for _, typ := range []reflect.Type{reflect.TypeFor[time.Time](), reflect.TypeFor[point](), reflect.TypeFor[*point](), reflect.TypeFor[[]int]()} {
		v, err := decodeTo(null, typ)
		if err != nil || !v.IsZero() {
			t.Errorf("null as %s: %v, %v", typ, v, err)
		}
	}
	if _, err := decodeTo(null, reflect.TypeFor[int]()); !errors.Is(err, ErrBadArgs) {
		t.Errorf("null as int: %v", err)
	}
}

// level is a named state with a text form, as kervi.ModuleState.
type level int

func (l level) MarshalText() ([]byte, error) {
	switch l {
	case 0:
		return []byte("low"), nil
	case 1:
		return []byte("high"), nil
	}
	return nil, errors.New("no such level")
}

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 0
	case "high":
		*l = 1
	default:
		return errors.New("unknown level " + string(b))
	}
	return nil
}

func TestTextMarshalersCrossAsText(t *testing.T) {
	type status struct {
		Name  string `json:"name"`
		Level level  `json:"level"`
	}
	d, err := encode(status{Name: "pump", Level: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(d); !reflect.DeepEqual(got, map[string]any{"name": "pump", "level": "high"}) {
		t.Errorf("seen by a reader without the type: %#v; want the level as its text", got)
	}
	if got := roundTrip(t, status{Name: "pump", Level: 1}); got.Level != 1 {
		t.Errorf("round trip: %+v", got)
	}
	// A number still decodes, by the underlying kind.
	n, _ := encode(map[string]any{"level": 1})
	if v, err := decodeTo(n, reflect.TypeFor[status]()); err != nil || v.Interface().(status).Level != 1 {
		t.Errorf("from a number: %v, %v", v, err)
	}
	bad, _ := encode(map[string]any{"level": "medium"})
	if _, err := decodeTo(bad, reflect.TypeFor[status]()); !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), `field "level"`) || !strings.Contains(err.Error(), "unknown level medium") {
		t.Errorf("unknown text: %v", err)
	}
	if _, err := encode(level(7)); !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), "no such level") {
		t.Errorf("MarshalText failing: %v", err)
	}
	dt, err := DescribeData(reflect.TypeFor[level]())
	if err != nil || dt.Kind != DataString || dt.Name != "level" {
		t.Errorf("DescribeData: %+v, %v", dt, err)
	}
	// time.Time keeps its own form.
	if d, _ := encode(time.Unix(5, 0)); d.GetTime() != 5e9 {
		t.Errorf("time: %v", d)
	}
}
