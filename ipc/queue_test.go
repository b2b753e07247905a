package ipc

// The rules of the mailbox (queue.go), checked on the mailbox itself.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// sink is the consumer of a lane: it records what it is delivered, and
// holds each delivery while it is held.
type sink struct {
	mu      sync.Mutex
	got     []*kervipb.Msg
	gate    chan struct{} // while open, deliveries wait for a token or its closing
	entered chan struct{} // a token per delivery that began
	changed chan struct{} // a token when a delivery ended
}

func newSink() *sink {
	s := &sink{entered: make(chan struct{}, 1<<16), changed: make(chan struct{}, 1)}
	s.hold()
	return s
}

// hold makes the next deliveries wait until release, and forgets the
// deliveries that began so far.
func (s *sink) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
	for len(s.entered) > 0 {
		<-s.entered
	}
}

// release lets every delivery through.
func (s *sink) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

func (s *sink) deliver(items []item) error {
	s.entered <- struct{}{}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	for _, it := range items {
		m := it.m
		if it.slot != nil {
			m = it.slot.m.Swap(sentSlot)
		}
		s.got = append(s.got, m)
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits until n messages were delivered.
func (s *sink) waitFor(t *testing.T, n int) []*kervipb.Msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if got := s.msgs(); len(got) >= n {
			return got
		}
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("%d messages delivered, want %d: %v", len(s.msgs()), n, s.msgs())
		}
	}
}

func (s *sink) msgs() []*kervipb.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*kervipb.Msg(nil), s.got...)
}

// waitEntered waits until a delivery began.
func (s *sink) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery began")
	}
}

// episodes records the reports of a mailbox.
type episodes struct {
	mu  sync.Mutex
	eps []episode
}

func (e *episodes) report(ep episode) {
	e.mu.Lock()
	e.eps = append(e.eps, ep)
	e.mu.Unlock()
}

func (e *episodes) list() []episode {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]episode(nil), e.eps...)
}

func event(id string, v float64) item {
	m := &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: id, Type: kervipb.ValueType_VALUE_TYPE_NUMBER, Number: v}
	return item{m: m, size: msgSize(m)}
}

func marker(kind kervipb.Kind, id string) item {
	m := &kervipb.Msg{Kind: kind, Id: id}
	return item{m: m, size: msgSize(m)}
}

// testLimits are small bounds, with a stall long enough never to pass by
// accident, and episodes that end as soon as the consumer keeps up.
func testLimits() boxLimits {
	return boxLimits{events: 8, eventBytes: 1 << 20, soft: 4, softBytes: 1 << 20, stall: time.Minute,
		ctrl: 16, ctrlBytes: 1 << 20, frame: 512, frameBytes: 1 << 20}
}

func flushed(t *testing.T, q *mailbox) {
	t.Helper()
	done := make(chan struct{})
	timer := time.AfterFunc(10*time.Second, func() { close(done) })
	defer timer.Stop()
	if err := q.flush(done); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// When the event lane is past its bound, events coalesce to the latest of
// each id: every id's events still arrive in order and end with the latest
// one, markers are never dropped and keep their order, an id announced by
// a marker has its events after it, and the episode is reported once at
// its start and once at its end with what it coalesced.
func TestMailboxCoalescesInOrderPerID(t *testing.T) {
	s := newSink()
	var eps episodes
	q := newMailbox(s.deliver, nil, testLimits(), eps.report)
	defer q.kill(ErrClosed)

	ids := []string{"a", "b", "c"}
	var pushed []item // in the order pushed
	push := func(it item) {
		if !q.pushEvents([]item{it}) {
			t.Fatal("push refused")
		}
		pushed = append(pushed, it)
	}
	push(event("a", -1))
	s.waitEntered(t) // the consumer holds that one; the rest queues
	for i := range 300 {
		push(event(ids[i%3], float64(i)))
		if i%7 == 0 {
			// An announcement, which never coalesces, and the new id's
			// events.
			ids = append(ids, fmt.Sprint("n", i))
			push(marker(kervipb.Kind_KIND_ANNOUNCE, fmt.Sprint("n", i)))
		}
		if i%3 == 0 && len(ids) > 3 {
			push(event(ids[len(ids)-1], float64(i)))
		}
	}
	if got := eps.list(); len(got) != 1 || !got[0].start {
		t.Fatalf("episodes while the consumer is held: %+v, want one start", got)
	}
	s.release()
	flushed(t, q)

	got := s.msgs()
	// Every marker arrives, in order; every id's events arrive in order,
	// after the id's announcement if it has one, and end with its latest.
	var wantMarkers, gotMarkers []string
	last := map[string]float64{}
	for _, it := range pushed {
		if it.m.Kind != kervipb.Kind_KIND_EVENT {
			wantMarkers = append(wantMarkers, it.m.Id)
		} else {
			last[it.m.Id] = it.m.Number
		}
	}
	seen := map[string]float64{}
	announced := map[string]bool{}
	events := 0
	for _, m := range got {
		if m.Kind != kervipb.Kind_KIND_EVENT {
			gotMarkers = append(gotMarkers, m.Id)
			announced[m.Id] = true
			continue
		}
		events++
		if prev, ok := seen[m.Id]; ok && m.Number <= prev {
			t.Fatalf("%s: %v arrived after %v", m.Id, m.Number, prev)
		}
		if m.Id[0] == 'n' && !announced[m.Id] {
			t.Fatalf("an event of %s arrived before its announcement", m.Id)
		}
		seen[m.Id] = m.Number
	}
	if fmt.Sprint(gotMarkers) != fmt.Sprint(wantMarkers) {
		t.Fatalf("markers %v, want %v", gotMarkers, wantMarkers)
	}
	if fmt.Sprint(seen) != fmt.Sprint(last) {
		t.Fatalf("last event of each id %v, want %v", seen, last)
	}
	// What did not arrive was coalesced, and counted once.
	pushedEvents := len(pushed) - len(wantMarkers)
	if n := q.coalesced(); n == 0 || int(n) != pushedEvents-events {
		t.Fatalf("coalesced %d, but %d of %d events did not arrive", n, pushedEvents-events, pushedEvents)
	}
	// The episode ended once the consumer had taken everything.
	ep := eps.list()
	if len(ep) != 2 || !ep[0].start || ep[1].start || ep[1].coalesced != q.coalesced() || ep[1].total != q.coalesced() {
		t.Fatalf("episodes %+v, want a start and an end counting %d", ep, q.coalesced())
	}

	// A second episode is reported on its own, counting its own events.
	s.hold()
	push(event("a", 1000))
	s.waitEntered(t)
	for i := range 20 {
		push(event("a", float64(1001+i)))
	}
	s.release()
	flushed(t, q)
	ep = eps.list()
	if len(ep) != 4 || !ep[2].start || ep[3].start || ep[3].coalesced == 0 || ep[3].total != ep[1].total+ep[3].coalesced {
		t.Fatalf("episodes %+v, want two starts and two ends", ep)
	}
	if got := s.msgs(); got[len(got)-1].Number != 1020 {
		t.Fatalf("the last event is %v, want 1020", got[len(got)-1].Number)
	}
}

// In an episode, a later event of an id takes the place of the one queued
// rather than going to the back: an id that changes all the time is not
// put off for ever. It may so cross events of other ids, and a marker.
func TestMailboxCoalescedEventKeepsItsPlace(t *testing.T) {
	s := newSink()
	lim := testLimits()
	lim.events, lim.soft = 4, 2
	q := newMailbox(s.deliver, nil, lim, nil)
	defer q.kill(ErrClosed)
	q.pushEvents([]item{event("x", 0)})
	s.waitEntered(t)
	q.pushEvents([]item{event("a", 1), marker(kervipb.Kind_KIND_READY, ""), event("b", 1), event("c", 1)})
	q.pushEvents([]item{event("a", 2), event("b", 2), event("a", 3)}) // past the bound
	s.release()
	flushed(t, q)
	var got []string
	for _, m := range s.msgs() {
		if m.Kind == kervipb.Kind_KIND_EVENT {
			got = append(got, fmt.Sprint(m.Id, m.Number))
		} else {
			got = append(got, m.Kind.String())
		}
	}
	if want := "[x0 a3 KIND_READY b2 c1]"; fmt.Sprint(got) != want {
		t.Fatalf("delivered %v, want %s", got, want)
	}
}

// A consumer that keeps up gets every event, in order, however fast the
// producer is: a producer that waits when told to goes at the consumer's
// pace, and nothing is coalesced.
func TestMailboxConsumerThatKeepsUpNeverCoalesces(t *testing.T) {
	var mu sync.Mutex
	var got []float64
	slowish := func(items []item) error {
		// A consumer slower than the producer, which still takes a batch
		// now and then.
		time.Sleep(100 * time.Microsecond)
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			got = append(got, it.m.Number)
		}
		return nil
	}
	var eps episodes
	lim := testLimits()
	lim.events, lim.soft, lim.frame = 64, 32, 16
	q := newMailbox(slowish, nil, lim, eps.report)
	defer q.kill(ErrClosed)
	const n = 5000
	waited := 0
	for i := range n {
		ok, over := q.pushEvent(event("x", float64(i)))
		if !ok {
			t.Fatal("push refused")
		}
		if over {
			waited++
			if !q.waitRoom(nil) {
				t.Fatal("the producer stopped waiting for a consumer that keeps up")
			}
		}
	}
	flushed(t, q)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("the consumer got %d events, want %d", len(got), n)
	}
	for i, v := range got {
		if v != float64(i) {
			t.Fatalf("event %d is %v", i, v)
		}
	}
	if q.coalesced() != 0 || len(eps.list()) != 0 {
		t.Fatalf("coalesced %d, episodes %+v", q.coalesced(), eps.list())
	}
	if waited == 0 {
		t.Fatal("the producer never waited: the test did not test flow control")
	}
}

// waitRoom is q.waitRoom(nil), which must return within 10 s.
func waitRoom(t *testing.T, q *mailbox) bool {
	res := make(chan bool, 1)
	go func() { res <- q.waitRoom(nil) }()
	select {
	case ok := <-res:
		return ok
	case <-time.After(10 * time.Second):
		t.Error("waitRoom still waits after 10 s")
		return false
	}
}

// waiting waits until a producer waits for room in q.
func waiting(t *testing.T, q *mailbox) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		n := q.waiters
		q.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no producer waits")
		}
		time.Sleep(time.Millisecond) // polls the mailbox's state
	}
}

// A producer that waits for room waits at most lim.stall; then the
// consumer is stalled and nobody waits for it until it has caught up; its
// events coalesce at the bound.
func TestMailboxWaitRoomStopsAfterStall(t *testing.T) {
	s := newSink()
	var eps episodes
	lim := testLimits()
	lim.events, lim.soft, lim.stall = 100, 4, 200*time.Millisecond
	q := newMailbox(s.deliver, nil, lim, eps.report)
	defer q.kill(ErrClosed)

	q.pushEvent(event("x", 0))
	s.waitEntered(t)
	over := false
	for i := 1; i <= 10; i++ {
		_, over = q.pushEvent(event("x", float64(i)))
	}
	if !over {
		t.Fatal("past the soft mark, a producer is not told to wait")
	}
	t0 := time.Now()
	if waitRoom(t, q) {
		t.Fatal("waitRoom reports room while the consumer takes nothing")
	}
	if waited := time.Since(t0); waited < lim.stall {
		t.Fatalf("waitRoom gave up after %v, before the stall timeout %v", waited, lim.stall)
	}
	// Stalled: nobody waits any more, and events coalesce at the bound.
	for i := 11; i <= 200; i++ {
		if _, over := q.pushEvent(event("x", float64(i))); over {
			t.Fatalf("a producer is told to wait for a stalled consumer (event %d)", i)
		}
	}
	if waitRoom(t, q) {
		t.Fatal("waitRoom reports room for a stalled consumer")
	}
	if q.coalesced() == 0 {
		t.Fatal("events past the bound of a stalled consumer were not coalesced")
	}
	// Caught up, the consumer is waited for again.
	s.release()
	flushed(t, q)
	if ep := eps.list(); len(ep) != 2 || ep[1].start {
		t.Fatalf("episodes %+v, want a start and an end", ep)
	}
	if got := s.msgs(); got[len(got)-1].Number != 200 {
		t.Fatalf("the last event is %v, want 200", got[len(got)-1].Number)
	}
	s.hold()
	q.pushEvent(event("x", 1000))
	s.waitEntered(t)
	for i := 1; i <= 10; i++ {
		_, over = q.pushEvent(event("x", float64(1000+i)))
	}
	if !over {
		t.Fatal("a consumer that caught up is not waited for")
	}
	room := make(chan bool, 1)
	go func() { room <- waitRoom(t, q) }()
	s.release() // the consumer takes everything: the producer goes on
	if !<-room {
		t.Fatal("waitRoom reports a stall for a consumer that took everything")
	}
	// A waiting producer also stops waiting when it is told to.
	s.hold()
	q.pushEvent(event("x", 2000))
	s.waitEntered(t)
	for i := 1; i <= 10; i++ {
		q.pushEvent(event("x", float64(2000+i)))
	}
	done := make(chan struct{})
	close(done)
	if !q.waitRoom(done) {
		t.Fatal("waitRoom with done closed reports a stall")
	}
	s.release()
}

// Calls and control go ahead of queued value events, and their lane's
// bound fails the mailbox instead of coalescing or dropping anything.
func TestMailboxControlGoesAhead(t *testing.T) {
	ev, ctrl := newSink(), newSink()
	ctrl.release()
	lim := testLimits()
	q := newMailbox(ctrl.deliver, ev.deliver, lim, nil)
	defer q.kill(ErrClosed)
	for i := range 100 {
		q.pushEvent(event("x", float64(i)))
	}
	ev.waitEntered(t) // the event lane is held
	if !q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_CALL, Id: "act", Seq: 1}, true) {
		t.Fatal("call refused")
	}
	if !q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOP}, true) {
		t.Fatal("stop refused")
	}
	// A marker goes with the events, behind them.
	q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_STOPPED}, true)
	if got := ctrl.waitFor(t, 2); got[0].Kind != kervipb.Kind_KIND_CALL || got[1].Kind != kervipb.Kind_KIND_STOP || len(got) != 2 {
		t.Fatalf("control delivered %v", got)
	}
	ev.release()
	flushed(t, q)
	if got := ev.msgs(); got[len(got)-1].Kind != kervipb.Kind_KIND_STOPPED {
		t.Fatalf("the event lane ends with %v, want KIND_STOPPED", got[len(got)-1])
	}

	// A control lane past its bound: its consumer is taken for gone.
	ctrl2 := newSink()
	q2 := newMailbox(ctrl2.deliver, nil, lim, nil)
	q2.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 0}, true)
	ctrl2.waitEntered(t)
	for i := 1; i <= lim.ctrl; i++ {
		if !q2.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: uint64(i)}, true) {
			t.Fatalf("result %d refused below the bound", i)
		}
	}
	if q2.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 99}, true) {
		t.Fatal("a control lane past its bound still takes messages")
	}
	if err := q2.flush(nil); !errors.Is(err, errOverflow) {
		t.Fatalf("flush of an overflowed mailbox: %v", err)
	}
	ctrl2.release()
}

// flush waits until everything pushed before it was delivered; it gives
// up when told to, and reports why a mailbox that was killed stopped.
func TestMailboxFlush(t *testing.T) {
	s := newSink()
	q := newMailbox(s.deliver, nil, testLimits(), nil)
	defer q.kill(ErrClosed)
	q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 1}, true)
	q.pushEvent(event("x", 1))
	q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 2}, true)
	s.waitEntered(t)

	flushedc := make(chan error, 1)
	go func() { flushedc <- q.flush(nil) }()
	select {
	case err := <-flushedc:
		t.Fatalf("flush returned (%v) while messages wait", err)
	default:
	}
	abort := make(chan struct{})
	close(abort)
	if err := q.flush(abort); !errors.Is(err, errFlushAborted) {
		t.Fatalf("aborted flush: %v", err)
	}
	s.release()
	select {
	case err := <-flushedc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flush did not return once everything was delivered")
	}
	if n := len(s.msgs()); n != 3 {
		t.Fatalf("delivered %d messages, want 3", n)
	}
}

// kill stops a mailbox at once: what is queued is dropped (a coalesced
// slot can no longer be joined), pushes are refused, waiting producers and
// flushes return.
func TestMailboxKill(t *testing.T) {
	s, ctrl := newSink(), newSink()
	lim := testLimits()
	lim.events, lim.soft = 100, 4
	q := newMailbox(ctrl.deliver, s.deliver, lim, nil)
	q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 1}, true)
	ctrl.waitEntered(t)
	q.pushEvent(event("x", 0))
	s.waitEntered(t)
	sl := &slot{id: "y", size: 300}
	sl.m.Store(&kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "y"})
	q.pushEvent(item{slot: sl, size: sl.size})
	for i := 1; i <= 10; i++ {
		q.pushEvent(event("x", float64(i)))
	}
	q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 2}, true)
	room := make(chan bool, 1)
	go func() { room <- q.waitRoom(nil) }()
	waiting(t, q)
	flushedc := make(chan error, 1)
	go func() { flushedc <- q.flush(nil) }()

	killed := errors.New("killed")
	q.kill(killed)
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"push", q.push(&kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: 3}, true)},
		{"pushEvents", q.pushEvents([]item{event("x", 11)})},
	} {
		if c.ok {
			t.Errorf("%s after kill accepted", c.what)
		}
	}
	if ok, _ := q.pushEvent(event("x", 12)); ok {
		t.Error("pushEvent after kill accepted")
	}
	if sl.join(&kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: "y"}, 1) {
		t.Error("a dropped slot can still be joined")
	}
	select {
	case <-room:
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting producer still waits for a killed mailbox")
	}
	select {
	case err := <-flushedc:
		if !errors.Is(err, killed) {
			t.Fatalf("flush of a killed mailbox: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flush still waits for a killed mailbox")
	}
	if err := q.flush(nil); !errors.Is(err, killed) {
		t.Fatalf("flush after kill: %v", err)
	}
	s.release()
	ctrl.release()
	// Only the batches the consumers held were delivered.
	if got := s.waitFor(t, 1); len(got) != 1 || got[0].Number != 0 {
		t.Fatalf("events delivered after kill: %v", got)
	}
	if got := ctrl.waitFor(t, 1); len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("control delivered after kill: %v", got)
	}
}
