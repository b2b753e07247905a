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
// hand and every other message with proto.
type Codec struct{}

// Name implements encoding.Codec; the codec stands in for "proto".
func (Codec) Name() string { return "proto" }

// Marshal implements encoding.Codec.
func (Codec) Marshal(v any) ([]byte, error) {
	if f, ok := v.(*kervipb.Frame); ok {
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
)

// AppendFrame appends the encoding of f to b.
func AppendFrame(b []byte, f *kervipb.Frame) ([]byte, error) {
	for _, m := range f.Msgs {
		size, err := msgSize(m)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, frameMsgs, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(size))
		n := len(b)
		if b, err = appendMsg(b, m); err != nil {
			return nil, err
		}
		if len(b)-n != size {
			return nil, errors.New("wirecodec: message size changed while encoding")
		}
	}
	return b, nil
}

func sizeTagged(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func msgSize(m *kervipb.Msg) (int, error) {
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
	return n, nil
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
	return b, err
}

var errBad = errors.New("wirecodec: malformed frame")

// DecodeFrame decodes b into f, replacing its messages.
func DecodeFrame(b []byte, f *kervipb.Frame) error {
	f.Msgs = f.Msgs[:0]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBad
		}
		b = b[n:]
		if num != frameMsgs || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errBad
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errBad
		}
		b = b[n:]
		m := &kervipb.Msg{}
		if err := decodeMsg(v, m); err != nil {
			return err
		}
		f.Msgs = append(f.Msgs, m)
	}
	return nil
}

func decodeMsg(b []byte, m *kervipb.Msg) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBad
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return errBad
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
			}
		case protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return errBad
			}
			b = b[n:]
			if num == msgNumber {
				m.Number = math.Float64frombits(v)
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return errBad
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
				err = proto.Unmarshal(v, d)
				m.Args = append(m.Args, d)
			case msgResult:
				m.Result = &kervipb.Data{}
				err = proto.Unmarshal(v, m.Result)
			case msgError:
				m.Error = &kervipb.Error{}
				err = proto.Unmarshal(v, m.Error)
			case msgComponent:
				m.Component = &kervipb.Component{}
				err = proto.Unmarshal(v, m.Component)
			}
			if err != nil {
				return fmt.Errorf("wirecodec: field %d: %w", num, err)
			}
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errBad
			}
			b = b[n:]
		}
	}
	return nil
}
