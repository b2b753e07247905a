// Package wirecodec encodes and decodes kervi's Frames by hand, byte for
// byte as protobuf does, for the gRPC streams between the hub and the
// module processes. Frames carry up to a million value events a second;
// the generic protobuf code spent most of the hub's time on them. The
// scalar fields of a Msg are handled here; its nested messages (arguments,
// results, errors, components), which only calls and announcements carry,
// go through proto.
package wirecodec

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/proto/kervipb"
)

// Codec is a gRPC codec (encoding.Codec) that handles *kervipb.Frame by
// hand, passes Encoded frames through as they are, and handles every other
// message with proto.
type Codec struct{}

// Encoded is a Frame already encoded (by AppendMsgs), which Codec sends as
// it is.
type Encoded []byte

// Name implements encoding.Codec; the codec stands in for "proto".
func (Codec) Name() string { return "proto" }

// Marshal implements encoding.Codec.
func (Codec) Marshal(v any) ([]byte, error) {
	switch f := v.(type) {
	case Encoded:
		return f, nil
	case *kervipb.Frame:
		return AppendFrame(nil, f)
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("wirecodec: %T is not a proto message", v)
	}
	return proto.Marshal(m)
}

// Unmarshal implements encoding.Codec.
func (Codec) Unmarshal(data []byte, v any) error {
	if f, ok := v.(*kervipb.Frame); ok {
		return DecodeFrame(data, f)
	}
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("wirecodec: %T is not a proto message", v)
	}
	return proto.Unmarshal(data, m)
}

// Field numbers of Frame and Msg (proto/kervi.proto).
const (
	frameMsgs = 1

	msgKind      = 1
	msgID        = 2
	msgSeq       = 3
	msgType      = 4
	msgNumber    = 5
	msgFlag      = 6
	msgText      = 7
	msgInstant   = 8
	msgTs        = 9
	msgArgs      = 10
	msgResult    = 11
	msgError     = 12
	msgDeadline  = 13
	msgComponent = 14
	msgModule    = 15
	msgCoalesced = 16
	msgLatest    = 17
)

// AppendFrame appends the encoding of f to b. It fails if a message cannot
// be encoded (a string that is not valid UTF-8 in a nested message).
func AppendFrame(b []byte, f *kervipb.Frame) ([]byte, error) {
	var first error
	b = AppendMsgs(b, f.Msgs, func(_ int, err error) {
		if first == nil {
			first = err
		}
	})
	return b, first
}

// AppendMsgs appends the encoding of a Frame of msgs to b. A message that
// cannot be encoded is left out, and bad is called with its index and the
// reason; the others are encoded as if it had not been there.
func AppendMsgs(b []byte, msgs []*kervipb.Msg, bad func(i int, err error)) []byte {
	for i, m := range msgs {
		size := Size(m)
		start := len(b)
		b = protowire.AppendTag(b, frameMsgs, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		n := len(b)
		var err error
		if b, err = appendMsg(b, m); err == nil && len(b)-n != size {
			err = errors.New("wirecodec: message size changed while encoding")
		}
		if err != nil {
			b = b[:start]
			bad(i, err)
		}
	}
	return b
}

func sizeTagged(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// Size returns the encoded size of m.
func Size(m *kervipb.Msg) int {
	n := 0
	varint := func(num protowire.Number, v uint64) {
		if v != 0 {
			n += protowire.SizeTag(num) + protowire.SizeVarint(v)
		}
	}
	str := func(num protowire.Number, s string) {
		if s != "" {
			n += sizeTagged(num, len(s))
		}
	}
	varint(msgKind, uint64(m.Kind))
	str(msgID, m.Id)
	varint(msgSeq, m.Seq)
	varint(msgType, uint64(m.Type))
	if m.Number != 0 || math.Signbit(m.Number) {
		n += protowire.SizeTag(msgNumber) + protowire.SizeFixed64()
	}
	if m.Flag {
		n += protowire.SizeTag(msgFlag) + 1
	}
	str(msgText, m.Text)
	varint(msgInstant, uint64(m.Instant))
	varint(msgTs, uint64(m.Ts))
	for _, a := range m.Args {
		n += sizeTagged(msgArgs, proto.Size(a))
	}
	if m.Result != nil {
		n += sizeTagged(msgResult, proto.Size(m.Result))
	}
	if m.Error != nil {
		n += sizeTagged(msgError, proto.Size(m.Error))
	}
	varint(msgDeadline, uint64(m.Deadline))
	if m.Component != nil {
		n += sizeTagged(msgComponent, proto.Size(m.Component))
	}
	str(msgModule, m.Module)
	varint(msgCoalesced, m.Coalesced)
	if m.Latest {
		n += protowire.SizeTag(msgLatest) + 1
	}
	return n
}

func appendMsg(b []byte, m *kervipb.Msg) ([]byte, error) {
	varint := func(num protowire.Number, v uint64) {
		if v != 0 {
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		}
	}
	str := func(num protowire.Number, s string) {
		if s != "" {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, s)
		}
	}
	var err error
	sub := func(num protowire.Number, x proto.Message) {
		if err != nil {
			return
		}
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(proto.Size(x)))
		b, err = proto.MarshalOptions{}.MarshalAppend(b, x)
	}
	varint(msgKind, uint64(m.Kind))
	str(msgID, m.Id)
	varint(msgSeq, m.Seq)
	varint(msgType, uint64(m.Type))
	if m.Number != 0 || math.Signbit(m.Number) {
		b = protowire.AppendTag(b, msgNumber, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(m.Number))
	}
	if m.Flag {
		b = protowire.AppendTag(b, msgFlag, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	str(msgText, m.Text)
	varint(msgInstant, uint64(m.Instant))
	varint(msgTs, uint64(m.Ts))
	for _, a := range m.Args {
		sub(msgArgs, a)
	}
	if m.Result != nil {
		sub(msgResult, m.Result)
	}
	if m.Error != nil {
		sub(msgError, m.Error)
	}
	varint(msgDeadline, uint64(m.Deadline))
	if m.Component != nil {
		sub(msgComponent, m.Component)
	}
	str(msgModule, m.Module)
	varint(msgCoalesced, m.Coalesced)
	if m.Latest {
		b = protowire.AppendTag(b, msgLatest, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b, err
}

// DecodeFrame decodes b into f, replacing its messages. A message that
// cannot be decoded fails alone: it is kept with the fields read so far and
// Error set to a CODE_MALFORMED error saying why, so that its receiver can
// answer it (a call) or report it. Bytes that do not even delimit messages
// end the frame with such a message, of kind KIND_UNSPECIFIED. DecodeFrame
// never fails; its error is for the gRPC codec's signature.
func DecodeFrame(b []byte, f *kervipb.Frame) error {
	f.Msgs = f.Msgs[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			f.Msgs = append(f.Msgs, brokenFrame(protowire.ParseError(n)))
			return nil
		}
		b = b[n:]
		if num != frameMsgs || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				f.Msgs = append(f.Msgs, brokenFrame(protowire.ParseError(n)))
				return nil
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			f.Msgs = append(f.Msgs, brokenFrame(protowire.ParseError(n)))
			return nil
		}
		b = b[n:]
		m := &kervipb.Msg{}
		if err := decodeMsg(v, m); err != nil {
			m.Error = &kervipb.Error{Code: kervipb.Code_CODE_MALFORMED, Message: "malformed message: " + err.Error()}
		}
		f.Msgs = append(f.Msgs, m)
	}
	return nil
}

func brokenFrame(err error) *kervipb.Msg {
	return &kervipb.Msg{Error: &kervipb.Error{Code: kervipb.Code_CODE_MALFORMED, Message: "malformed frame: " + err.Error()}}
}

// decodeMsg decodes b into m; on an error, m keeps what was decoded
// before it, without the nested message that failed.
func decodeMsg(b []byte, m *kervipb.Msg) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case msgKind:
				m.Kind = kervipb.Kind(int32(v))
			case msgSeq:
				m.Seq = v
			case msgType:
				m.Type = kervipb.ValueType(int32(v))
			case msgFlag:
				m.Flag = v != 0
			case msgInstant:
				m.Instant = int64(v)
			case msgTs:
				m.Ts = int64(v)
			case msgDeadline:
				m.Deadline = int64(v)
			case msgCoalesced:
				m.Coalesced = v
			case msgLatest:
				m.Latest = v != 0
			}
		case protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			if num == msgNumber {
				m.Number = math.Float64frombits(v)
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			var err error
			switch num {
			case msgID:
				m.Id = string(v)
			case msgText:
				m.Text = string(v)
			case msgModule:
				m.Module = string(v)
			case msgArgs:
				d := &kervipb.Data{}
				if err = proto.Unmarshal(v, d); err == nil {
					m.Args = append(m.Args, d)
				} else {
					m.Args = nil
				}
			case msgResult:
				d := &kervipb.Data{}
				if err = proto.Unmarshal(v, d); err == nil {
					m.Result = d
				}
			case msgError:
				e := &kervipb.Error{}
				if err = proto.Unmarshal(v, e); err == nil {
					m.Error = e
				}
			case msgComponent:
				c := &kervipb.Component{}
				if err = proto.Unmarshal(v, c); err == nil {
					m.Component = c
				}
			}
			if err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}
