package wirecodec

import (
	"math"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/proto/kervipb"
)

func sampleFrame(r *rand.Rand) *kervipb.Frame {
	f := &kervipb.Frame{}
	for range r.IntN(20) {
		m := &kervipb.Msg{
			Kind: kervipb.Kind(r.IntN(26)), Id: []string{"", "cpu_load", "fan_controller.temp", "ü.x"}[r.IntN(4)],
			Seq: r.Uint64() >> r.IntN(64), Type: kervipb.ValueType(r.IntN(7)),
			Number: []float64{0, math.Copysign(0, -1), 1.5, -3e300, math.Inf(1)}[r.IntN(5)],
			Flag:   r.IntN(2) == 1, Text: []string{"", "#ff8000", "hello"}[r.IntN(3)],
			Instant: r.Int64() - r.Int64(), Ts: r.Int64(), Deadline: r.Int64() >> r.IntN(63),
			Module: []string{"", "sensors"}[r.IntN(2)], Coalesced: r.Uint64() >> r.IntN(64),
			Latest: r.IntN(2) == 1,
		}
		if r.IntN(4) == 0 {
			m.Args = []*kervipb.Data{{Kind: &kervipb.Data_Int{Int: -5}}, {Kind: &kervipb.Data_String_{String_: "x"}}}
			m.Result = &kervipb.Data{Kind: &kervipb.Data_List{List: &kervipb.List{Items: []*kervipb.Data{{Kind: &kervipb.Data_Bool{Bool: true}}}}}}
			m.Error = &kervipb.Error{Code: kervipb.Code_CODE_BUSY, Message: "busy", Module: "m"}
			m.Component = sampleComponent(r)
		}
		f.Msgs = append(f.Msgs, m)
	}
	return f
}

// sampleComponent returns a component with every field in use, some of
// them at random.
func sampleComponent(r *rand.Rand) *kervipb.Component {
	lo := 0.0
	c := &kervipb.Component{
		Kind: kervipb.ComponentKind(r.IntN(5)), Module: "greenhouse", Name: "Temp", Parent: "climate",
		Type: kervipb.ValueType_VALUE_TYPE_ENUM, Input: r.IntN(2) == 1, Unit: "°C", Min: &lo,
		Choices: []*kervipb.Choice{{Value: "auto", Text: "Automatic"}, {Value: "off"}},
		Meta:    map[string]string{"dashboard": `{"panel":"climate"}`},
		Params: []*kervipb.Param{
			{Name: "level", Type: &kervipb.DataType{Kind: 4}},
			{Name: "points", Type: &kervipb.DataType{Kind: 9, Elem: &kervipb.DataType{Kind: 11, Name: "Point",
				Fields: []*kervipb.Field{{Name: "x", Type: &kervipb.DataType{Kind: 2}}, {Name: "at", Type: &kervipb.DataType{Kind: 7}}}}}},
		},
		Result: &kervipb.DataType{Kind: 10, Elem: &kervipb.DataType{Kind: 5}},
	}
	if r.IntN(2) == 0 {
		c.Max = new(100.0)
		c.Meta = nil
	}
	return c
}

// The hand encoding is the protobuf encoding, and decodes to the same
// messages, both ways.
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
	c := f.Msgs[1]
	if c.Kind != kervipb.Kind_KIND_CALL || c.Id != "pump.run" || c.Seq != 9 ||
		c.GetError().GetCode() != kervipb.Code_CODE_MALFORMED || c.Args != nil {
		t.Fatalf("malformed call decoded as %v", c)
	}
	if e := f.Msgs[3].GetError(); e.GetCode() != kervipb.Code_CODE_MALFORMED || f.Msgs[3].Kind != 0 {
		t.Fatalf("trailing garbage decoded as %v", f.Msgs[3])
	}
}

func BenchmarkFrame(b *testing.B) {
	f := &kervipb.Frame{}
	for i := range 512 {
		f.Msgs = append(f.Msgs, &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "bench.value",
			Type: kervipb.ValueType_VALUE_TYPE_NUMBER, Number: float64(i), Ts: 1_790_000_000_000_000_000 + int64(i)})
	}
	enc, _ := AppendFrame(nil, f)
	b.Run("hand/encode", func(b *testing.B) {
		buf := make([]byte, 0, len(enc))
		for b.Loop() {
			buf, _ = AppendFrame(buf[:0], f)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/event")
	})
	b.Run("proto/encode", func(b *testing.B) {
		for b.Loop() {
			proto.Marshal(f)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/event")
	})
	b.Run("hand/decode", func(b *testing.B) {
		var g kervipb.Frame
		for b.Loop() {
			DecodeFrame(enc, &g)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/event")
	})
	b.Run("proto/decode", func(b *testing.B) {
		for b.Loop() {
			var g kervipb.Frame
			proto.Unmarshal(enc, &g)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/event")
	})
}
