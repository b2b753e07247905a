package ipc

import (
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/plumb"
)

// Events of one id leave in order even when interest in the id comes and
// goes while events wait to be sent: a run of coalesced events never
// overtakes an event sent on its own.
func TestCoalescingKeepsOrderAcrossInterestChanges(t *testing.T) {
	gate := make(chan struct{})
	sending := make(chan struct{}, 100)
	var mu sync.Mutex
	var sent []float64
	b := newBus("m", func(ms []*kervipb.Msg) error {
		sending <- struct{}{}
		<-gate // the hub is slow: everything below queues up
		mu.Lock()
		defer mu.Unlock()
		for _, m := range ms {
			if m.Kind == kervipb.Kind_KIND_EVENT {
				sent = append(sent, m.Number)
			}
		}
		return nil
	}, plumb.BusOptions{})
	defer b.kill()
	pub, err := b.RegisterValue(Description{ID: "x", Type: TypeNumber}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-sending // the announcement is on its way; the rest waits in the queue
	interest := func(on bool) {
		b.receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_INTEREST, Id: "x", Flag: on}})
		deadline := time.Now().Add(5 * time.Second)
		for pub.Followed() != on {
			if time.Now().After(deadline) {
				t.Fatal("interest not applied")
			}
			time.Sleep(time.Millisecond)
		}
	}
	publish := func(v float64) { pub.Publish(NumberValue(v), time.Now()) }
	publish(1)
	publish(2) // coalesced with 1
	interest(true)
	publish(3) // on its own
	interest(false)
	publish(4)
	publish(5) // a new run, after 3
	close(gate)
	if err := b.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 3 || sent[0] != 2 || sent[1] != 3 || sent[2] != 5 {
		t.Fatalf("sent %v, want [2 3 5]", sent)
	}
}
