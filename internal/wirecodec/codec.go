// Package wirecodec encodes and decodes kervi's Frames for the gRPC streams
// between the hub and the module processes. Frames carry up to a million
// value events a second, and the generic protobuf code spent most of the
// hub's time on them; the messages are encoded by the code vtprotobuf
// generates (internal/kervipb/kervi_vtproto.pb.go), one Msg at a time, so that
// a message that cannot be encoded or decoded fails alone, and the frame
// never fails as a whole.
//
// Where the generated code differs from protobuf, this package makes up for
// it: it checks that the strings of nested messages are valid UTF-8, sends
// a number of -0, decodes a map entry without a value as an empty value,
// and drops the unknown fields of a Msg. It refuses (marks malformed) a
// message with a known field of the wrong wire type, which protobuf would
// keep as an unknown field and no protobuf encoder writes. The tests check
// the result against protobuf both ways.
package wirecodec

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Codec is a gRPC codec (encoding.Codec) that handles *kervipb.Frame
// message by message, passes Encoded frames through as they are, and
// handles every other message with proto.
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

// Field numbers of Frame and Msg (proto/kervi.proto) that this package
// writes itself.
const (
	frameMsgs = 1
	msgNumber = 5
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
		if err := checkNested(m); err != nil {
			bad(i, err)
			continue
		}
		size := m.SizeVT()
		// The generated code leaves out a number of -0 as if it were 0
		// (it tests m.Number != 0); protobuf sends it, so it is added at
		// the end of the message, where a decoder takes it all the same.
		// TestFloatFieldsKeepNegativeZero checks that no other field
		// needs this.
		negZero := m.Number == 0 && math.Signbit(m.Number)
		full := size
		if negZero {
			full += 1 + 8 // tag, fixed64
		}
		start := len(b)
		b = protowire.AppendTag(b, frameMsgs, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(full))
		n := len(b)
		b = slices.Grow(b, full)[:n+size]
		if w, err := m.MarshalToSizedBufferVT(b[n:]); err != nil || w != size {
			if err == nil {
				err = errors.New("wirecodec: message size changed while encoding")
			}
			b = b[:start]
			bad(i, err)
			continue
		}
		if negZero {
			b = protowire.AppendTag(b, msgNumber, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(m.Number))
		}
	}
	return b
}

// DecodeFrame decodes b into f, replacing its messages. A message that
// cannot be decoded fails alone: it is kept with the scalar fields read
// before the failure, without its nested messages, and with Error set to a
// CODE_MALFORMED error saying why, so that its receiver can answer it (a
// call) or report it. Bytes that do not even delimit messages end the
// frame with such a message, of kind KIND_UNSPECIFIED. DecodeFrame never
// fails; its error is for the gRPC codec's signature.
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
		f.Msgs = append(f.Msgs, decodeMsg(v))
	}
	return nil
}

func brokenFrame(err error) *kervipb.Msg {
	return &kervipb.Msg{Error: &kervipb.Error{Code: kervipb.Code_CODE_MALFORMED, Message: "malformed frame: " + err.Error()}}
}

// decodeMsg decodes one Msg. One that cannot be decoded keeps the scalar
// fields read before the failure, loses its nested messages (nobody reads
// them: a malformed call is answered from its kind, id and seq), and gets a
// CODE_MALFORMED error saying why.
func decodeMsg(v []byte) *kervipb.Msg {
	m := &kervipb.Msg{}
	err := m.UnmarshalVT(v)
	if err == nil {
		err = fixNested(m)
	}
	r := m.ProtoReflect()
	if r.GetUnknown() != nil {
		// Fields this binary does not know are dropped: nothing reads
		// them, and the queues, which count a message's known fields,
		// must not carry them on.
		r.SetUnknown(nil)
	}
	if err != nil {
		var nested []protoreflect.FieldDescriptor
		r.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if fd.Message() != nil {
				nested = append(nested, fd)
			}
			return true
		})
		for _, fd := range nested {
			r.Clear(fd)
		}
		m.Error = &kervipb.Error{Code: kervipb.Code_CODE_MALFORMED, Message: "malformed message: " + err.Error()}
	}
	return m
}
