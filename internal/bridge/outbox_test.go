package bridge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// TestOutboxBoundsBytes: what waits for the link is bounded in bytes, not
// only in messages: a control message over the bytes fails, and large
// events make only the latest of each id wait.
func TestOutboxBoundsBytes(t *testing.T) {
	o := newOutbox(1000, 1000, 10<<10)
	big := make([]byte, 4<<10)
	failed := make(chan error, 10)
	for range 3 {
		o.ctrl(outMsg{subj: "s", data: big, fail: func(err error) { failed <- err }})
	}
	select { // (fail runs on a goroutine of its own)
	case err := <-failed:
		if !errors.Is(err, errTooMany) {
			t.Fatalf("the control message over the bytes failed with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the control message over the bytes did not fail")
	}
	if c, _ := o.take(); len(c) != 2 {
		t.Fatalf("%d control messages wait, want 2 (10 KiB)", len(c))
	}
	// One larger than the bound waits alone.
	o.ctrl(outMsg{subj: "s", data: make([]byte, 20<<10)})
	if c, _ := o.take(); len(c) != 1 {
		t.Fatalf("%d control messages wait, want the large one", len(c))
	}

	text := strings.Repeat("x", 4<<10)
	for i := range 10 {
		o.event("a", &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "a", Text: text, Seq: uint64(2*i + 1), Epoch: 1})
		o.event("b", &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "b", Text: text, Seq: uint64(2*i + 2), Epoch: 1})
	}
	_, evs := o.take()
	if len(evs) > 2 || evs[len(evs)-1].Seq != 20 {
		t.Fatalf("%d events wait (the last %d): want the latest of a and b", len(evs), evs[len(evs)-1].Seq)
	}
}
