package ipc_test

// What the transport does with a message it cannot encode: the message
// fails alone, and its caller gets an error. Nothing in the public API
// makes such a message any more (strings are checked where they enter, and
// sizes where messages are made), so these tests play the transport and
// declare messages undeliverable themselves.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

var errEncode = errors.New("string field contains invalid UTF-8")

// A module process's bus: a call or set it made that cannot be sent fails
// with an error; a result that cannot be sent is replaced by an error
// result for the same call.
func TestBusUndeliverable(t *testing.T) {
	sent := make(chan *kervipb.Msg, 100)
	var b *ipc.Bus
	attached := make(chan struct{})
	var rt plumb.Bus
	send := func(ms []*kervipb.Msg) error {
		<-attached
		for _, m := range ms {
			if m.Kind == kervipb.Kind_KIND_CALL || m.Kind == kervipb.Kind_KIND_SET {
				rt.Undeliverable(m, errEncode)
				continue
			}
			sent <- m
		}
		return nil
	}
	rt = plumb.NewBus("m", send, plumb.BusOptions{})
	b = rt.Handle().(*ipc.Bus)
	close(attached)
	t.Cleanup(rt.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := b.Call(ctx, "other.act", 1)
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"other.act"`) || !strings.Contains(err.Error(), errEncode.Error()) {
		t.Fatalf("call that cannot be sent: %v", err)
	}
	if err := b.Set(ctx, "other.value", 1); !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"other.value"`) {
		t.Fatalf("set that cannot be sent: %v", err)
	}

	rt.Undeliverable(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 7, Id: "m.act",
		Result: &kervipb.Data{Kind: &kervipb.Data_String_{String_: "caf\xe9"}}}, errEncode)
	r := testbus.Wait(t, sent, "the error result")
	if r.Kind != kervipb.Kind_KIND_RESULT || r.Seq != 7 || r.Result != nil ||
		r.GetError().GetCode() != kervipb.Code_CODE_ACTION_FAILED || !strings.Contains(r.GetError().GetMessage(), errEncode.Error()) {
		t.Fatalf("in place of the result: %v", r)
	}
}

// The hub's side: a call or set it forwarded that cannot be sent to the
// owner is answered to its caller with an error; a result that cannot be
// sent to the caller is replaced by an error result. No call stays in
// flight.
func TestPortUndeliverable(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	must(t, a.RegisterAction(ipc.Description{ID: "a.act"}, func(context.Context, ipc.Args) (any, error) {
		return "fine", nil
	}))

	// Module m is attached through a transport that cannot encode the
	// calls and sets it is sent, nor the results of its own calls.
	var port plumb.Port
	attached := make(chan struct{})
	toM := make(chan *kervipb.Msg, 100)
	send := func(ms []*kervipb.Msg) error {
		<-attached
		for _, m := range ms {
			switch {
			case m.Kind == kervipb.Kind_KIND_CALL, m.Kind == kervipb.Kind_KIND_SET,
				m.Kind == kervipb.Kind_KIND_RESULT && m.Error == nil:
				port.Undeliverable(m, errEncode)
			case m.Kind == kervipb.Kind_KIND_START:
				go port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_STARTED}})
			default:
				toM <- m
			}
		}
		return nil
	}
	port, err := th.hub.Attach("m", send, send)
	must(t, err)
	close(attached)
	t.Cleanup(port.Detach)
	port.Receive([]*kervipb.Msg{
		{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: "m.act", Component: &kervipb.Component{Kind: kervipb.ComponentKind_COMPONENT_KIND_ACTION, Name: "act"}},
		{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: "m.text", Component: &kervipb.Component{Kind: kervipb.ComponentKind_COMPONENT_KIND_VALUE, Name: "text",
			Type: kervipb.ValueType_VALUE_TYPE_STRING, Input: true}},
		{Kind: kervipb.Kind_KIND_READY},
	})
	th.start(t)
	testbus.Wait(t, port.Started(), "module m started")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = a.Call(ctx, "m.act")
	if !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"m.act"`) || !strings.Contains(err.Error(), errEncode.Error()) {
		t.Fatalf("call the hub could not send: %v", err)
	}
	if err := a.Set(ctx, "m.text", "x"); !errors.Is(err, ipc.ErrBadArgs) || !strings.Contains(err.Error(), `"m.text"`) {
		t.Fatalf("set the hub could not send: %v", err)
	}

	// m calls a.act; its result cannot be sent to m.
	port.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_CALL, Seq: 5, Id: "a.act"}})
	for {
		r := testbus.Wait(t, toM, "the result of m's call")
		if r.Kind != kervipb.Kind_KIND_RESULT {
			continue
		}
		if r.Seq != 5 || r.Result != nil || r.GetError().GetCode() != kervipb.Code_CODE_ACTION_FAILED ||
			!strings.Contains(r.GetError().GetMessage(), errEncode.Error()) {
			t.Fatalf("in place of the result: %v", r)
		}
		break
	}
	if _, calls := th.hub.Size(); calls != 0 {
		t.Fatalf("%d calls still in flight", calls)
	}
}
