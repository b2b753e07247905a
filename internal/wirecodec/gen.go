package wirecodec

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kervi/kervi-go/proto/kervipb"
)

// negZeroSize is the size of Msg.number when it is written: tag and 8 bytes.
const negZeroSize = 1 + 8

// appendMsgsGen is AppendMsgs on the code vtprotobuf generates: each Msg
// is written on its own, with MarshalToSizedBufferVT, under the tag of
// Frame.msgs.
func appendMsgsGen(b []byte, msgs []*kervipb.Msg, bad func(i int, err error)) []byte {
	for i, m := range msgs {
		if err := checkNested(m); err != nil {
			bad(i, err)
			continue
		}
		size := m.SizeVT()
		// The generated code leaves out a number of -0 as if it were 0
		// (it tests m.Number != 0); protobuf sends it, so it is added at
		// the end of the message, where a decoder takes it all the same.
		negZero := m.Number == 0 && math.Signbit(m.Number)
		full := size
		if negZero {
			full += negZeroSize
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

// decodeFrameGen is DecodeFrame on the code vtprotobuf generates: each Msg
// is read on its own, with UnmarshalVT.
func decodeFrameGen(b []byte, f *kervipb.Frame) error {
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
		f.Msgs = append(f.Msgs, decodeMsgGen(v))
	}
	return nil
}

// decodeMsgGen decodes one Msg. One that cannot be decoded keeps the
// scalar fields read before the failure, loses its nested messages, and
// gets a CODE_MALFORMED error saying why.
func decodeMsgGen(v []byte) *kervipb.Msg {
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

// hasNested reports whether m has a nested message. TestHasNested checks
// that it knows every message field of Msg.
func hasNested(m *kervipb.Msg) bool {
	return len(m.Args) != 0 || m.Result != nil || m.Error != nil || m.Component != nil
}

// checkNested refuses a Msg whose nested messages hold a string that is not
// valid UTF-8, as protobuf does (the generated code does not check). Value
// events, which have no nested message, cost one test. The strings of Msg
// itself (id, text, module) are checked where they enter, by the bus and
// the hub (ipc), which answer with the error the user expects.
// TestNestedStringsChecked makes a message with each string field of each
// message under Msg invalid, and checks that checkNested refuses it.
func checkNested(m *kervipb.Msg) error {
	return walkNested(m, false)
}

// fixNested is checkNested for a Msg just decoded, which it may change: a
// map entry without a value, which the generated code decodes as nil, gets
// an empty value, as protobuf gives it.
func fixNested(m *kervipb.Msg) error {
	return walkNested(m, true)
}

func walkNested(m *kervipb.Msg, fix bool) error {
	if !hasNested(m) {
		return nil
	}
	for i, a := range m.Args {
		if err := walkData(a, fix); err != nil {
			return fmt.Errorf("args[%d]: %w", i, err)
		}
	}
	if err := walkData(m.Result, fix); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	if e := m.Error; e != nil {
		if err := validText("kervi.v1.Error.message", e.Message); err != nil {
			return err
		}
		if err := validText("kervi.v1.Error.module", e.Module); err != nil {
			return err
		}
	}
	if c := m.Component; c != nil {
		for _, f := range [...]struct{ name, s string }{
			{"kind", c.Kind}, {"name", c.Name}, {"unit", c.Unit}, {"parent", c.Parent},
		} {
			if err := validText("kervi.v1.Component."+f.name, f.s); err != nil {
				return err
			}
		}
		for _, o := range c.Options {
			if err := validText("kervi.v1.Component.options", o); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkData checks the strings of d and of the values it holds; with fix,
// it gives a map entry without a value an empty one.
func walkData(d *kervipb.Data, fix bool) error {
	switch k := d.GetKind().(type) {
	case *kervipb.Data_String_:
		return validText("kervi.v1.Data.string", k.String_)
	case *kervipb.Data_List:
		for _, it := range k.List.GetItems() {
			if err := walkData(it, fix); err != nil {
				return err
			}
		}
	case *kervipb.Data_Map:
		for key, v := range k.Map.GetEntries() {
			if err := validText("kervi.v1.Map.entries key", key); err != nil {
				return err
			}
			if v == nil && fix {
				k.Map.Entries[key] = &kervipb.Data{}
			}
			if err := walkData(v, fix); err != nil {
				return err
			}
		}
	}
	return nil
}

// validText refuses s if it is not valid UTF-8; field names it.
func validText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("wirecodec: %s: string is not valid UTF-8", field)
	}
	return nil
}
