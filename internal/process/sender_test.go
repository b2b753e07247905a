package process

import (
	"errors"
	"io"
	"testing"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/wirecodec"
)

// A message that cannot be encoded fails alone: the others of its batch
// are sent, and the bad one is handed back to the bus or the hub (bad),
// which fails its call or replaces its result. Nothing in the public API
// makes such a message any more (strings are checked where they enter),
// so the test makes one by hand.
func TestSenderFailsABadMessageAlone(t *testing.T) {
	bad := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 2, Id: "m.act",
		Result: &kervipb.Data{Kind: &kervipb.Data_String_{String_: "caf\xe9"}}}
	good := []*kervipb.Msg{
		{Kind: kervipb.Kind_KIND_EVENT, Id: "m.temp", Type: kervipb.ValueType_VALUE_TYPE_NUMBER, Number: 21.5},
		{Kind: kervipb.Kind_KIND_RESULT, Seq: 3, Id: "m.act", Result: &kervipb.Data{Kind: &kervipb.Data_String_{String_: "café"}}},
	}
	var frames []*kervipb.Frame
	var failed []*kervipb.Msg
	send := sender(func(f wirecodec.Encoded) error {
		fr := &kervipb.Frame{}
		if err := wirecodec.DecodeFrame(f, fr); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, fr)
		return nil
	}, func(m *kervipb.Msg, err error) {
		if err == nil {
			t.Error("a bad message without a reason")
		}
		failed = append(failed, m)
	})

	if err := send([]*kervipb.Msg{good[0], bad, good[1]}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(failed) != 1 || failed[0] != bad {
		t.Fatalf("handed back %v, want the bad result", failed)
	}
	if len(frames) != 1 || len(frames[0].Msgs) != 2 {
		t.Fatalf("sent %d frames: %v", len(frames), frames)
	}
	got := frames[0].Msgs
	if got[0].Id != "m.temp" || got[0].Number != 21.5 || got[1].Seq != 3 || got[1].GetResult().GetString_() != "café" {
		t.Fatalf("sent %v", got)
	}

	// A batch of bad messages only: nothing to send, and no error, which
	// would be the stream's.
	frames, failed = nil, nil
	if err := send([]*kervipb.Msg{bad}); err != nil || len(frames) != 0 || len(failed) != 1 {
		t.Fatalf("send of a bad message: %v, %d frames, %d handed back", err, len(frames), len(failed))
	}

	// An error of the stream itself is returned (the stream failed).
	broken := sender(func(wirecodec.Encoded) error { return io.EOF }, func(*kervipb.Msg, error) {})
	if err := broken(good); !errors.Is(err, io.EOF) {
		t.Fatalf("send on a broken stream: %v", err)
	}
}
