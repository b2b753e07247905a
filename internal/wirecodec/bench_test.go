package wirecodec

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// benchFrames are frames as the transport sends them.
func benchFrames() []struct {
	name  string
	frame *kervipb.Frame
} {
	const t0 = 1_790_000_000_000_000_000 // unix nanoseconds
	event := func(i int) *kervipb.Msg {
		return &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: fmt.Sprintf("room%d.temp", i%16),
			Type: kervipb.ValueType_VALUE_TYPE_NUMBER, Number: 20 + float64(i)/8, Ts: t0 + int64(i)*1_000_000}
	}
	events := &kervipb.Frame{}
	for i := range 512 {
		events.Msgs = append(events.Msgs, event(i))
	}
	str := func(s string) *kervipb.Data { return &kervipb.Data{Kind: &kervipb.Data_String_{String_: s}} }
	num := func(x float64) *kervipb.Data { return &kervipb.Data{Kind: &kervipb.Data_Float{Float: x}} }
	integer := func(n int64) *kervipb.Data { return &kervipb.Data{Kind: &kervipb.Data_Int{Int: n}} }
	at := func(t int64) *kervipb.Data { return &kervipb.Data{Kind: &kervipb.Data_Time{Time: t}} }
	call := &kervipb.Msg{Kind: kervipb.Kind_KIND_CALL, Id: "heating.set_schedule", Seq: 1042, Deadline: t0 + 5e9,
		Args: []*kervipb.Data{
			integer(3), num(0.75), str("eco"), {Kind: &kervipb.Data_Bool{Bool: true}},
			// A struct: map keys are its field names.
			{Kind: &kervipb.Data_Map{Map: &kervipb.Map{Entries: map[string]*kervipb.Data{
				"Room":    str("kitchen"),
				"Target":  num(21.5),
				"Enabled": {Kind: &kervipb.Data_Bool{Bool: true}},
				"Start":   at(t0),
				"End":     at(t0 + 8*3600e9),
				"Zones":   {Kind: &kervipb.Data_List{List: &kervipb.List{Items: []*kervipb.Data{integer(1), integer(2), integer(5)}}}},
			}}}},
		}}
	big := &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "camera.caption", Type: kervipb.ValueType_VALUE_TYPE_STRING,
		Text: strings.Repeat("a line of text, ünïcode included. ", 2000)[:64<<10], Ts: t0}
	return []struct {
		name  string
		frame *kervipb.Frame
	}{
		{"events512", events},
		{"event1", &kervipb.Frame{Msgs: []*kervipb.Msg{event(7)}}},
		{"call", &kervipb.Frame{Msgs: []*kervipb.Msg{call}}},
		{"string64k", &kervipb.Frame{Msgs: []*kervipb.Msg{big}}},
	}
}

// BenchmarkCodec measures the frame codec on realistic frames: encoding
// into a reused buffer, and decoding into a new Frame as the transport
// does. proto, the generic protobuf code on the whole Frame, is the
// reference. Compare with `benchstat -col /impl` (docs/benchmarks.md).
func BenchmarkCodec(b *testing.B) {
	for _, fr := range benchFrames() {
		f := fr.frame
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(f)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("frame="+fr.name+"/impl=wirecodec/op=encode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			buf := make([]byte, 0, len(enc)+64)
			bad := func(int, error) { b.Fatal("bad message") }
			for b.Loop() {
				buf = AppendMsgs(buf[:0], f.Msgs, bad)
			}
		})
		b.Run("frame="+fr.name+"/impl=wirecodec/op=decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				var g kervipb.Frame
				DecodeFrame(enc, &g)
			}
		})
		b.Run("frame="+fr.name+"/impl=proto/op=encode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			buf := make([]byte, 0, len(enc)+64)
			for b.Loop() {
				buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], f)
			}
		})
		b.Run("frame="+fr.name+"/impl=proto/op=decode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for b.Loop() {
				var g kervipb.Frame
				proto.Unmarshal(enc, &g)
			}
		})
	}
}
