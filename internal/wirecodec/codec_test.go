package wirecodec

import (
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Field numbers of Msg (proto/kervi.proto) the tests write by hand.
const (
	msgKind = 1
	msgID   = 2
	msgSeq  = 3
)

func sampleFrame(r *rand.Rand) *kervipb.Frame {
	f := &kervipb.Frame{}
	for range r.IntN(20) {
		m := &kervipb.Msg{
			Kind: kervipb.Kind(r.IntN(26)), Latest: r.IntN(2) == 1, Id: []string{"", "cpu_load", "fan_controller.temp", "ü.x"}[r.IntN(4)],
			Seq: r.Uint64() >> r.IntN(64), Type: kervipb.ValueType(r.IntN(7)),
			Number: []float64{0, math.Copysign(0, -1), 1.5, -3e300, math.Inf(1)}[r.IntN(5)],
			Flag:   r.IntN(2) == 1, Text: []string{"", "#ff8000", "hello"}[r.IntN(3)],
			Instant: r.Int64() - r.Int64(), Ts: r.Int64(), Deadline: r.Int64() >> r.IntN(63),
			Module: []string{"", "sensors"}[r.IntN(2)], Coalesced: r.Uint64() >> r.IntN(64),
		}
		if r.IntN(4) == 0 {
			m.Args = []*kervipb.Data{{Kind: &kervipb.Data_Int{Int: -5}}, {Kind: &kervipb.Data_String_{String_: "x"}}}
			m.Result = &kervipb.Data{Kind: &kervipb.Data_List{List: &kervipb.List{Items: []*kervipb.Data{{Kind: &kervipb.Data_Bool{Bool: true}}}}}}
			m.Error = &kervipb.Error{Code: kervipb.Code_CODE_BUSY, Message: "busy", Module: "m"}
			min := 0.0
			m.Component = &kervipb.Component{Kind: kervipb.ComponentKind_COMPONENT_KIND_VALUE, Name: "Temp", Min: &min,
				Module: "sensors", Parent: "room", Choices: []*kervipb.Choice{{Value: "a", Text: "Å"}},
				Meta: map[string]string{"dashboard": `{"panel":"x"}`},
				Params: []*kervipb.Param{{Name: "p", Type: &kervipb.DataType{Kind: 11, Name: "Point",
					Fields: []*kervipb.Field{{Name: "x", Type: &kervipb.DataType{Kind: 4}}}}}},
				Result: &kervipb.DataType{Kind: 9, Elem: &kervipb.DataType{Kind: 5}}}
		}
		f.Msgs = append(f.Msgs, m)
	}
	return f
}

// The codec's encoding decodes with protobuf to the same messages, and it
// decodes protobuf's encoding to the same messages.
func TestMatchesProtobuf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		f := sampleFrame(r)
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendFrame(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		var back kervipb.Frame
		if err := DecodeFrame(got, &back); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(&back, f) {
			t.Fatalf("frame %d: decoded %v, want %v", i, &back, f)
		}
		var viaProto kervipb.Frame
		if err := proto.Unmarshal(got, &viaProto); err != nil || !proto.Equal(&viaProto, f) {
			t.Fatalf("frame %d: protobuf reads our encoding as %v (%v)", i, &viaProto, err)
		}
		back.Reset()
		if err := DecodeFrame(want, &back); err != nil || !proto.Equal(&back, f) {
			t.Fatalf("frame %d: we read protobuf's encoding as %v (%v)", i, &back, err)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 10 {
		b, _ := AppendFrame(nil, sampleFrame(r))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr kervipb.Frame
		if err := DecodeFrame(b, &fr); err != nil {
			t.Fatalf("DecodeFrame failed: %v", err) // it never does: bad messages fail alone
		}
		// What decodes must encode and decode to the same.
		enc, err := AppendFrame(nil, &fr)
		if err != nil {
			return // e.g. invalid UTF-8 in a nested string, which proto refuses
		}
		var again kervipb.Frame
		if err := DecodeFrame(enc, &again); err != nil || !proto.Equal(&fr, &again) {
			t.Fatalf("round trip: %v, %v vs %v", err, &fr, &again)
		}
	})
}

// A message that cannot be encoded is left out of its frame, and its
// neighbours are not.
func TestBadMessageFailsAlone(t *testing.T) {
	bad := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 2,
		Result: &kervipb.Data{Kind: &kervipb.Data_String_{String_: "caf\xe9"}}}
	msgs := []*kervipb.Msg{
		{Kind: kervipb.Kind_KIND_EVENT, Id: "a", Number: 1},
		bad,
		{Kind: kervipb.Kind_KIND_EVENT, Id: "b", Number: 2},
	}
	var failed []int
	enc := AppendMsgs(nil, msgs, func(i int, err error) {
		if err == nil {
			t.Error("no reason given")
		}
		failed = append(failed, i)
	})
	if len(failed) != 1 || failed[0] != 1 {
		t.Fatalf("failed %v, want [1]", failed)
	}
	var back kervipb.Frame
	if err := DecodeFrame(enc, &back); err != nil || len(back.Msgs) != 2 ||
		back.Msgs[0].Id != "a" || back.Msgs[1].Id != "b" {
		t.Fatalf("decoded %v (%v)", &back, err)
	}
	if _, err := AppendFrame(nil, &kervipb.Frame{Msgs: msgs}); err == nil {
		t.Fatal("AppendFrame hid the failure")
	}
}

// A message that cannot be decoded is kept, marked malformed, with what
// could be read of it; the rest of the frame decodes.
func TestMalformedMessageDecodesAlone(t *testing.T) {
	good := func(id string) []byte {
		b, _ := AppendFrame(nil, &kervipb.Frame{Msgs: []*kervipb.Msg{{Kind: kervipb.Kind_KIND_EVENT, Id: id}}})
		return b
	}
	// A call whose argument holds invalid UTF-8, as a module written in
	// another language might send.
	var call []byte
	call = protowire.AppendTag(call, msgKind, protowire.VarintType)
	call = protowire.AppendVarint(call, uint64(kervipb.Kind_KIND_CALL))
	call = protowire.AppendTag(call, msgID, protowire.BytesType)
	call = protowire.AppendString(call, "pump.run")
	call = protowire.AppendTag(call, msgSeq, protowire.VarintType)
	call = protowire.AppendVarint(call, 9)
	arg := protowire.AppendTag(nil, 6, protowire.BytesType) // Data.string
	arg = protowire.AppendString(arg, "\xff\xfe")
	call = protowire.AppendTag(call, msgArgs, protowire.BytesType)
	call = protowire.AppendBytes(call, arg)
	frame := good("a")
	frame = protowire.AppendTag(frame, frameMsgs, protowire.BytesType)
	frame = protowire.AppendBytes(frame, call)
	frame = append(frame, good("b")...)
	frame = append(frame, 0xff, 0xff) // then garbage

	var f kervipb.Frame
	if err := DecodeFrame(frame, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Msgs) != 4 {
		t.Fatalf("decoded %d messages: %v", len(f.Msgs), &f)
	}
	if f.Msgs[0].Id != "a" || f.Msgs[0].Error != nil || f.Msgs[2].Id != "b" || f.Msgs[2].Error != nil {
		t.Fatalf("neighbours hurt: %v", &f)
	}
	m := f.Msgs[1]
	if m.Kind != kervipb.Kind_KIND_CALL || m.Id != "pump.run" || m.Seq != 9 ||
		m.GetError().GetCode() != kervipb.Code_CODE_MALFORMED || m.Args != nil {
		t.Fatalf("malformed call decoded as %v", m)
	}
	if e := f.Msgs[3].GetError(); e.GetCode() != kervipb.Code_CODE_MALFORMED || f.Msgs[3].Kind != 0 {
		t.Fatalf("trailing garbage decoded as %v", f.Msgs[3])
	}
}

// Where protobuf decodes a frame, the codec decodes the same messages,
// without their unknown fields (which it drops). The generated code refuses
// some messages protobuf reads (a known field with the wrong wire type,
// which protobuf keeps as an unknown field, even in a map entry): such a
// message is malformed, and the same content as protobuf encodes it
// decodes the same.
func FuzzMatchesProtobuf(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 10 {
		b, _ := AppendFrame(nil, sampleFrame(r))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want kervipb.Frame
		if proto.Unmarshal(b, &want) != nil {
			return
		}
		want.ProtoReflect().SetUnknown(nil)
		for _, m := range want.Msgs {
			m.ProtoReflect().SetUnknown(nil)
		}
		var got kervipb.Frame
		DecodeFrame(b, &got)
		if len(got.Msgs) != len(want.Msgs) {
			t.Fatalf("decoded %v, protobuf %v", &got, &want)
		}
		for i, m := range got.Msgs {
			w := want.Msgs[i]
			if m.GetError().GetCode() == kervipb.Code_CODE_MALFORMED && w.GetError().GetCode() != kervipb.Code_CODE_MALFORMED {
				dropUnknown(w.ProtoReflect())
				canon, err := proto.Marshal(w)
				if err != nil {
					t.Fatal(err)
				}
				frame := protowire.AppendBytes(protowire.AppendTag(nil, frameMsgs, protowire.BytesType), canon)
				var again kervipb.Frame
				DecodeFrame(frame, &again)
				if len(again.Msgs) != 1 || !proto.Equal(again.Msgs[0], w) {
					t.Fatalf("message %d: decoded %v, protobuf %v", i, &again, w)
				}
				continue
			}
			if !proto.Equal(m, w) {
				t.Fatalf("message %d: decoded %v, protobuf %v", i, m, w)
			}
		}
	})
}

// dropUnknown drops the unknown fields of m and of the messages it holds.
func dropUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsList():
			for i := range v.List().Len() {
				dropUnknown(v.List().Get(i).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
					dropUnknown(v.Message())
					return true
				})
			}
		default:
			dropUnknown(v.Message())
		}
		return true
	})
}

// TestHasNested: hasData and hasOther see every message field of Msg, so
// that checkNested misses none.
func TestHasNested(t *testing.T) {
	fields := (&kervipb.Msg{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() == nil {
			continue
		}
		m := &kervipb.Msg{}
		r := m.ProtoReflect()
		switch {
		case fd.IsList():
			r.Mutable(fd).List().Append(r.Mutable(fd).List().NewElement())
		case fd.IsMap():
			t.Fatalf("%s: a map in Msg: add it to hasOther", fd.FullName())
		default:
			r.Set(fd, r.NewField(fd))
		}
		isData := fd.Number() == msgArgs || fd.Number() == msgResult
		if hasData(m) != isData || hasOther(m) == isData {
			t.Errorf("hasData and hasOther do not see %s: add it to hasOther", fd.FullName())
		}
	}
}

// TestFloatFieldsKeepNegativeZero: the generated code leaves out an
// implicit-presence float or double field that holds -0, which protobuf
// sends; the codec makes up for it for Msg.number only, so no other such
// field may exist.
func TestFloatFieldsKeepNegativeZero(t *testing.T) {
	fd := kervipb.File_kervi_proto
	var check func(protoreflect.MessageDescriptors)
	check = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			md := ms.Get(i)
			fields := md.Fields()
			for j := range fields.Len() {
				f := fields.Get(j)
				if (f.Kind() == protoreflect.DoubleKind || f.Kind() == protoreflect.FloatKind) &&
					!f.HasPresence() && !f.IsList() && f.FullName() != "kervi.v1.Msg.number" {
					t.Errorf("%s: a float without presence would lose -0 (make it optional, or write it in AppendMsgs as Msg.number is)", f.FullName())
				}
			}
			check(md.Messages())
		}
	}
	check(fd.Messages())

	m := &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "a.b", Number: math.Copysign(0, -1)}
	b, err := AppendFrame(nil, &kervipb.Frame{Msgs: []*kervipb.Msg{m}})
	var back kervipb.Frame
	if err != nil || proto.Unmarshal(b, &back) != nil || len(back.Msgs) != 1 || !math.Signbit(back.Msgs[0].Number) {
		t.Errorf("-0 reads back as %v (%v)", &back, err)
	}
}

// Every string of a nested message must be valid UTF-8, as protobuf
// requires: a message that breaks the rule cannot be encoded, and is
// malformed when received.
func TestNestedStringsMustBeUTF8(t *testing.T) {
	const bad = "caf\xe9"
	str := func(s string) *kervipb.Data { return &kervipb.Data{Kind: &kervipb.Data_String_{String_: s}} }
	list := func(ds ...*kervipb.Data) *kervipb.Data {
		return &kervipb.Data{Kind: &kervipb.Data_List{List: &kervipb.List{Items: ds}}}
	}
	dict := func(k string, v *kervipb.Data) *kervipb.Data {
		return &kervipb.Data{Kind: &kervipb.Data_Map{Map: &kervipb.Map{Entries: map[string]*kervipb.Data{k: v}}}}
	}
	cases := map[string]*kervipb.Msg{
		"arg":            {Args: []*kervipb.Data{str("ok"), str(bad)}},
		"result":         {Result: str(bad)},
		"list item":      {Args: []*kervipb.Data{list(str("ok"), str(bad))}},
		"map key":        {Args: []*kervipb.Data{dict(bad, str("ok"))}},
		"map value":      {Result: dict("k", list(str(bad)))},
		"error message":  {Error: &kervipb.Error{Message: bad}},
		"component name": {Component: &kervipb.Component{Name: bad}},
		"choice text":    {Component: &kervipb.Component{Choices: []*kervipb.Choice{{Value: "a"}, {Value: "b", Text: bad}}}},
		"meta value":     {Component: &kervipb.Component{Meta: map[string]string{"k": bad}}},
		"param name":     {Component: &kervipb.Component{Params: []*kervipb.Param{{Name: bad}}}},
		"field name": {Component: &kervipb.Component{Result: &kervipb.DataType{Kind: 11,
			Fields: []*kervipb.Field{{Name: bad}}}}},
	}
	for name, m := range cases {
		m.Kind, m.Id, m.Seq = kervipb.Kind_KIND_CALL, "pump.run", 4
		if _, err := proto.Marshal(m); err == nil {
			t.Fatalf("%s: protobuf encodes it", name)
		}
		raw, err := m.MarshalVT() // which does not check
		if err != nil {
			t.Fatal(err)
		}
		if proto.Unmarshal(raw, &kervipb.Msg{}) == nil {
			t.Fatalf("%s: protobuf decodes it", name)
		}
		frame := protowire.AppendBytes(protowire.AppendTag(nil, frameMsgs, protowire.BytesType), raw)
		if _, err := AppendFrame(nil, &kervipb.Frame{Msgs: []*kervipb.Msg{m}}); err == nil {
			t.Errorf("%s: encoded", name)
		}
		var f kervipb.Frame
		DecodeFrame(frame, &f)
		if len(f.Msgs) != 1 || f.Msgs[0].GetError().GetCode() != kervipb.Code_CODE_MALFORMED ||
			f.Msgs[0].Seq != 4 || f.Msgs[0].Id != "pump.run" {
			t.Errorf("%s: decoded as %v", name, &f)
		}
	}
}

// A map entry without a value decodes as an empty value, as protobuf
// decodes it, not as nil.
func TestMapEntryWithoutValue(t *testing.T) {
	entry := protowire.AppendTag(nil, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, "k")
	mp := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), entry)
	data := protowire.AppendBytes(protowire.AppendTag(nil, 11, protowire.BytesType), mp) // Data.map
	msg := protowire.AppendBytes(protowire.AppendTag(nil, msgResult, protowire.BytesType), data)
	frame := protowire.AppendBytes(protowire.AppendTag(nil, frameMsgs, protowire.BytesType), msg)
	var want kervipb.Frame
	if err := proto.Unmarshal(frame, &want); err != nil {
		t.Fatal(err)
	}
	var f kervipb.Frame
	DecodeFrame(frame, &f)
	if !proto.Equal(&f, &want) || f.Msgs[0].GetResult().GetMap().GetEntries()["k"] == nil {
		t.Errorf("decoded %v, want %v", &f, &want)
	}
}

// Fields the codec does not know are dropped.
func TestUnknownFieldsDropped(t *testing.T) {
	msg, _ := proto.Marshal(&kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "a.b", Number: 2})
	msg = protowire.AppendTag(msg, 1000, protowire.BytesType)
	msg = protowire.AppendString(msg, "from a newer peer")
	frame := protowire.AppendBytes(protowire.AppendTag(nil, frameMsgs, protowire.BytesType), msg)
	var f kervipb.Frame
	DecodeFrame(frame, &f)
	if len(f.Msgs) != 1 || f.Msgs[0].Error != nil || f.Msgs[0].Id != "a.b" || f.Msgs[0].ProtoReflect().GetUnknown() != nil {
		t.Errorf("decoded %v", &f)
	}
}

// stringPath makes a message whose one string field, somewhere under it,
// holds text that is not valid UTF-8.
type stringPath struct {
	name string
	set  func(m protoreflect.Message)
}

// stringPaths returns a stringPath for every string field in messages of
// type md and the messages under them, each field once (seen).
func stringPaths(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) []stringPath {
	const bad = "caf\xe9"
	var paths []stringPath
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if seen[fd.FullName()] {
			continue
		}
		seen[fd.FullName()] = true
		switch {
		case fd.IsMap():
			mp := func(m protoreflect.Message) protoreflect.Map { return m.Mutable(fd).Map() }
			if fd.MapKey().Kind() == protoreflect.StringKind {
				paths = append(paths, stringPath{string(fd.FullName()) + " key", func(m protoreflect.Message) {
					mp(m).Set(protoreflect.ValueOfString(bad).MapKey(), mp(m).NewValue())
				}})
			}
			switch {
			case fd.MapValue().Kind() == protoreflect.StringKind:
				paths = append(paths, stringPath{string(fd.FullName()) + " value", func(m protoreflect.Message) {
					mp(m).Set(protoreflect.ValueOfString("k").MapKey(), protoreflect.ValueOfString(bad))
				}})
			case fd.MapValue().Message() != nil:
				for _, p := range stringPaths(fd.MapValue().Message(), seen) {
					paths = append(paths, stringPath{string(fd.FullName()) + " value: " + p.name, func(m protoreflect.Message) {
						v := mp(m).NewValue()
						p.set(v.Message())
						mp(m).Set(protoreflect.ValueOfString("k").MapKey(), v)
					}})
				}
			}
		case fd.IsList():
			l := func(m protoreflect.Message) protoreflect.List { return m.Mutable(fd).List() }
			switch {
			case fd.Kind() == protoreflect.StringKind:
				paths = append(paths, stringPath{string(fd.FullName()), func(m protoreflect.Message) {
					l(m).Append(protoreflect.ValueOfString(bad))
				}})
			case fd.Message() != nil:
				for _, p := range stringPaths(fd.Message(), seen) {
					paths = append(paths, stringPath{string(fd.FullName()) + ": " + p.name, func(m protoreflect.Message) {
						v := l(m).NewElement()
						p.set(v.Message())
						l(m).Append(v)
					}})
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			paths = append(paths, stringPath{string(fd.FullName()), func(m protoreflect.Message) {
				m.Set(fd, protoreflect.ValueOfString(bad))
			}})
		case fd.Message() != nil:
			for _, p := range stringPaths(fd.Message(), seen) {
				paths = append(paths, stringPath{string(fd.FullName()) + ": " + p.name, func(m protoreflect.Message) {
					p.set(m.Mutable(fd).Message())
				}})
			}
		}
	}
	return paths
}

// TestNestedStringsChecked: checkNested knows every string field of every
// message under Msg, as protobuf checks them all.
func TestNestedStringsChecked(t *testing.T) {
	md := (&kervipb.Msg{}).ProtoReflect().Descriptor()
	seen := map[protoreflect.FullName]bool{}
	fields := md.Fields()
	for i := range fields.Len() { // the strings of Msg itself are not checked
		if fd := fields.Get(i); fd.Message() == nil {
			seen[fd.FullName()] = true
		}
	}
	paths := stringPaths(md, seen)
	if len(paths) < 9 { // as proto/kervi.proto has today
		t.Fatalf("only %d string fields found", len(paths))
	}
	for _, p := range paths {
		m := &kervipb.Msg{Kind: kervipb.Kind_KIND_CALL, Id: "pump.run", Seq: 4}
		p.set(m.ProtoReflect())
		if _, err := proto.Marshal(m); err == nil {
			t.Fatalf("%s: protobuf encodes it", p.name)
		}
		if _, err := AppendFrame(nil, &kervipb.Frame{Msgs: []*kervipb.Msg{m}}); err == nil {
			t.Errorf("%s: invalid UTF-8 encoded", p.name)
		}
		raw, err := m.MarshalVT() // which does not check
		if err != nil {
			t.Fatal(err)
		}
		var f kervipb.Frame
		DecodeFrame(protowire.AppendBytes(protowire.AppendTag(nil, frameMsgs, protowire.BytesType), raw), &f)
		if len(f.Msgs) != 1 || f.Msgs[0].GetError().GetCode() != kervipb.Code_CODE_MALFORMED || f.Msgs[0].Seq != 4 {
			t.Errorf("%s: invalid UTF-8 decoded as %v", p.name, &f)
		}
	}
}
