package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kervi/kervi-go/internal/testbus"
	"github.com/kervi/kervi-go/ipc"
)

// follow follows the catalogue from b; the changes arrive on the channel.
func follow(t *testing.T, b *ipc.Bus) <-chan ipc.CatalogueChange {
	t.Helper()
	ch := make(chan ipc.CatalogueChange, 1000)
	_, err := b.FollowCatalogue(func(c ipc.CatalogueChange) { ch <- c })
	must(t, err)
	return ch
}

// expect reads the next changes and checks their kinds and ids.
func expect(t *testing.T, ch <-chan ipc.CatalogueChange, want ...string) []ipc.CatalogueChange {
	t.Helper()
	var got []ipc.CatalogueChange
	for _, w := range want {
		c := testbus.Wait(t, ch, "catalogue change "+w)
		if s := c.Kind.String() + " " + c.Description.ID; strings.TrimSpace(s) != w {
			t.Fatalf("change %q, want %q (so far %v)", s, w, got)
		}
		got = append(got, c)
	}
	return got
}

func nop(context.Context, ipc.Args) (any, error) { return nil, nil }

// fanModule describes a controller with an enum input, a number output and
// an action, as a dashboard would list them.
func fanModule(t *testing.T, a *ipc.Bus) {
	t.Helper()
	must(t, a.Announce(ipc.Description{ID: "fan", Kind: ipc.KindController, Name: "Fan"}))
	_, err := a.RegisterValue(ipc.Description{ID: "fan.mode", Name: "Mode", Parent: "fan", Type: ipc.TypeEnum,
		Choices: []ipc.Choice{{Value: "auto", Text: "Automatic"}, {Value: "off", Text: "Off"}},
		Meta:    map[string]string{"dashboard": `{"panel":"climate"}`}},
		func(context.Context, ipc.Value) error { return nil })
	must(t, err)
	_, err = a.RegisterValue(ipc.Description{ID: "fan.speed", Name: "Speed", Parent: "fan", Type: ipc.TypeNumber,
		Unit: "%", Min: new(0.0), Max: new(100.0)}, nil)
	must(t, err)
	must(t, a.RegisterAction(ipc.Description{ID: "fan.boost", Name: "Boost", Parent: "fan",
		Params: []ipc.Param{{Name: "level", Type: ipc.DataType{Kind: ipc.DataFloat}}, {Name: "for", Type: ipc.DataType{Kind: ipc.DataDuration}}},
		Result: &ipc.DataType{Kind: ipc.DataList, Elem: &ipc.DataType{Kind: ipc.DataString}}}, nop))
}

// fanCatalogue is what the catalogue says of fanModule's components.
func fanCatalogue(module string) []ipc.Description {
	return []ipc.Description{
		{ID: "fan", Kind: ipc.KindController, Module: module, Name: "Fan"},
		{ID: "fan.boost", Kind: ipc.KindAction, Module: module, Name: "Boost", Parent: "fan",
			Params: []ipc.Param{{Name: "level", Type: ipc.DataType{Kind: ipc.DataFloat}}, {Name: "for", Type: ipc.DataType{Kind: ipc.DataDuration}}},
			Result: &ipc.DataType{Kind: ipc.DataList, Elem: &ipc.DataType{Kind: ipc.DataString}}},
		{ID: "fan.mode", Kind: ipc.KindValue, Module: module, Name: "Mode", Parent: "fan", Type: ipc.TypeEnum, Input: true,
			Choices: []ipc.Choice{{Value: "auto", Text: "Automatic"}, {Value: "off", Text: "Off"}},
			Meta:    map[string]string{"dashboard": `{"panel":"climate"}`}},
		{ID: "fan.speed", Kind: ipc.KindValue, Module: module, Name: "Speed", Parent: "fan", Type: ipc.TypeNumber,
			Unit: "%", Min: new(0.0), Max: new(100.0)},
	}
}

// A process follows the catalogue of another's components: first every
// entry, with everything that describes it, then the moment it has them
// all, then each announcement and retirement, each told once.
func TestFollowCatalogueFromAnotherProcess(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	fanModule(t, a)
	th.start(t)

	changes := follow(t, b)
	got := expect(t, changes, "announced fan", "announced fan.boost", "announced fan.mode", "announced fan.speed", "synced")
	for i, want := range fanCatalogue("a") {
		if !reflect.DeepEqual(got[i].Description, want) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i].Description, want)
		}
	}

	// An entry announced later is told as it is announced.
	_, err := a.RegisterValue(ipc.Description{ID: "fan.rpm", Name: "RPM", Parent: "fan", Type: ipc.TypeNumber}, nil)
	must(t, err)
	if c := expect(t, changes, "announced fan.rpm")[0]; c.Description.Module != "a" || c.Description.Name != "RPM" {
		t.Fatalf("late entry %+v", c.Description)
	}

	// Module a stopped for good: its entries are retired, once.
	th.hub.Retire("a")
	th.hub.Retire("a")
	got = expect(t, changes, "retired fan", "retired fan.boost", "retired fan.mode", "retired fan.rpm", "retired fan.speed")
	if got[2].Description.Choices[0].Text != "Automatic" {
		t.Fatalf("a retirement carries the last description: %+v", got[2].Description)
	}
	c, _ := th.bus(t, "c")
	must(t, c.Announce(ipc.Description{ID: "c.sensor", Kind: ipc.KindSensor, Name: "S"}))
	expect(t, changes, "announced c.sensor") // and nothing in between
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if comps, err := c.Catalogue(ctx); err != nil || len(comps) != 1 || comps[0].ID != "c.sensor" {
		t.Fatalf("the catalogue after the retirement: %+v, %v", comps, err)
	}
}

// Catalogue reads the catalogue once, from any process, sorted by id.
func TestCatalogueOnce(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	fanModule(t, a)
	th.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := b.Catalogue(ctx)
	must(t, err)
	if want := fanCatalogue("a"); !reflect.DeepEqual(got, want) {
		t.Fatalf("catalogue\n got %+v\nwant %+v", got, want)
	}
	// The owner reads the same.
	own, err := a.Catalogue(ctx)
	must(t, err)
	if !reflect.DeepEqual(own, got) {
		t.Fatalf("the owner reads %+v", own)
	}
	// What a caller does with its copy changes nobody else's.
	got[2].Choices[0].Text = "changed"
	again, _ := b.Catalogue(ctx)
	if again[2].Choices[0].Text != "Automatic" {
		t.Fatal("Catalogue handed out shared memory")
	}
}

// A module that restarted and no longer declares an id once it is ready
// retires it; an id it declares as before is not announced again, and one
// whose description changed is.
func TestRestartRetiresWhatIsNoLongerDeclared(t *testing.T) {
	th := newTestHub(t)
	a, ap := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	declare := func(a *ipc.Bus, unit string, dropped bool) {
		for _, id := range []string{"a.kept", "a.changed", "a.dropped"} {
			if id == "a.dropped" && !dropped {
				continue
			}
			d := ipc.Description{ID: id, Type: ipc.TypeNumber}
			if id == "a.changed" {
				d.Unit = unit
			}
			_, err := a.RegisterValue(d, nil)
			must(t, err)
		}
	}
	declare(a, "°C", true)
	th.start(t)
	changes := follow(t, b)
	expect(t, changes, "announced a.changed", "announced a.dropped", "announced a.kept", "synced")

	// The module's process ends: nothing is retired while it restarts.
	ap.Detach()
	th.rt(a).Kill()
	a2, _ := th.bus(t, "a")
	declare(a2, "K", false)
	must(t, th.rt(a2).RunSetup(nil))
	got := expect(t, changes, "announced a.changed", "retired a.dropped")
	if got[0].Description.Unit != "K" {
		t.Fatalf("changed entry %+v", got[0].Description)
	}
	_, err := a2.RegisterValue(ipc.Description{ID: "a.late", Type: ipc.TypeBool}, nil)
	must(t, err)
	expect(t, changes, "announced a.late") // and nothing in between
}

type recorder struct {
	mu  sync.Mutex
	got []string
	ch  chan string
}

func newRecorder() *recorder { return &recorder{ch: make(chan string, 10000)} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) event(ev ipc.Event) { r.add(fmt.Sprintf("%s=%v", ev.ID, ev.Value)) }

// waitFor waits until the recorder has seen s.
func (r *recorder) waitFor(t *testing.T, s string) {
	t.Helper()
	for !slices.Contains(r.list(), s) {
		testbus.Wait(t, r.ch, s)
	}
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// Pattern subscriptions follow the values whose ids match, in any process,
// from their current content on, and those announced later; a module
// filter narrows them to one owner.
func TestPatternSubscriptionsAcrossProcesses(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	c, _ := th.bus(t, "c")
	b, _ := th.bus(t, "b")
	pub := func(bus *ipc.Bus, id string, v float64) *ipc.Publisher {
		p, err := bus.RegisterValue(ipc.Description{ID: id, Type: ipc.TypeNumber}, nil)
		must(t, err)
		must(t, p.Publish(ipc.NumberValue(v), time.Now()))
		return p
	}
	temp := pub(a, "greenhouse.temp", 21)
	pub(a, "greenhouse.fan.speed", 40)
	pub(a, "sensors.cpu", 0.5)
	pub(c, "greenhouse.light", 1)
	must(t, a.Announce(ipc.Description{ID: "greenhouse.climate", Kind: ipc.KindController}))
	th.start(t)
	must(t, a.Flush(context.Background()))
	must(t, c.Flush(context.Background()))

	ofA, one, all := newRecorder(), newRecorder(), newRecorder()
	_, err := b.SubscribePattern("greenhouse.>", ofA.event, ipc.OwnedBy("a"))
	must(t, err)
	_, err = b.SubscribePattern("*.temp", one.event)
	must(t, err)
	_, err = b.SubscribePattern(">", all.event)
	must(t, err)

	ofA.waitFor(t, "greenhouse.temp=21")
	ofA.waitFor(t, "greenhouse.fan.speed=40")
	one.waitFor(t, "greenhouse.temp=21")
	for _, s := range []string{"greenhouse.temp=21", "greenhouse.fan.speed=40", "sensors.cpu=0.5", "greenhouse.light=1"} {
		all.waitFor(t, s)
	}
	must(t, temp.Publish(ipc.NumberValue(22), time.Now()))
	ofA.waitFor(t, "greenhouse.temp=22")
	one.waitFor(t, "greenhouse.temp=22")
	all.waitFor(t, "greenhouse.temp=22")

	// A value announced later joins, with its first event.
	pub(a, "greenhouse.humidity", 60)
	pub(c, "greenhouse.door", 0)
	ofA.waitFor(t, "greenhouse.humidity=60")
	all.waitFor(t, "greenhouse.door=0")
	for _, r := range []*recorder{ofA, one} {
		for _, s := range r.list() {
			if strings.HasPrefix(s, "greenhouse.light") || strings.HasPrefix(s, "greenhouse.door") || strings.HasPrefix(s, "sensors.") {
				t.Fatalf("an id that does not match reached the subscription: %v", r.list())
			}
		}
	}
	if got := one.list(); len(got) != 2 {
		t.Fatalf("*.temp saw %v", got)
	}
}

// A process that follows the catalogue and a pattern sees an id's
// announcement before its events, and its retirement after them.
func TestPatternEventsComeAfterTheirAnnouncement(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	th.start(t)
	r := newRecorder()
	_, err := b.FollowCatalogue(func(c ipc.CatalogueChange) { r.add(c.Kind.String() + " " + c.Description.ID) })
	must(t, err)
	_, err = b.SubscribePattern("x.*", r.event)
	must(t, err)
	r.waitFor(t, "synced ")
	for i := range 20 {
		p, err := a.RegisterValue(ipc.Description{ID: fmt.Sprintf("x.v%d", i), Type: ipc.TypeNumber}, nil)
		must(t, err)
		for v := range 3 {
			must(t, p.Publish(ipc.NumberValue(float64(v)), time.Now()))
		}
	}
	for i := range 20 {
		r.waitFor(t, fmt.Sprintf("x.v%d=2", i))
	}
	th.hub.Retire("a")
	r.waitFor(t, "retired x.v19")
	announced := map[string]bool{}
	for _, s := range r.list() {
		if id, ok := strings.CutPrefix(s, "announced "); ok {
			announced[id] = true
			continue
		}
		if id, _, ok := strings.Cut(s, "="); ok && !announced[id] {
			t.Fatalf("event %q before the announcement of its id: %v", s, r.list())
		}
		if id, ok := strings.CutPrefix(s, "retired "); ok {
			announced[id] = false
		}
	}
}

// An invalid pattern is refused with an error that names the token at
// fault.
func TestInvalidPatterns(t *testing.T) {
	th := newTestHub(t)
	b, _ := th.bus(t, "b")
	for _, c := range []struct{ pattern, says string }{
		{"", "at least one token"},
		{"greenhouse..temp", "token 2 is empty"},
		{"greenhouse.", "token 2 is empty"},
		{">.temp", `token 1 ">": ">" stands for the rest of an id and must be the last token`},
		{"greenhouse.temp*", `token 2 "temp*": "*" and ">" stand for whole tokens only`},
		{"a.b>", `token 2 "b>"`},
		{"a.fan speed", `token 2 "fan speed": ' ' is not allowed`},
		{strings.Repeat("x", 201), "at most 200"},
	} {
		_, err := b.SubscribePattern(c.pattern, func(ipc.Event) {})
		if !errors.Is(err, ipc.ErrInvalidPattern) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("pattern %q: error %v, want ErrInvalidPattern saying %q", c.pattern, err, c.says)
		}
	}
	if _, err := b.SubscribePattern("a.*", func(ipc.Event) {}, ipc.OwnedBy("")); err == nil || !strings.Contains(err.Error(), "OwnedBy") {
		t.Errorf("empty module filter: %v", err)
	}
}

// Subscribe with OwnedBy follows an id only while that module owns it.
func TestSubscribeOwnedBy(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	p, err := a.RegisterValue(ipc.Description{ID: "shared.x", Type: ipc.TypeNumber}, nil)
	must(t, err)
	must(t, p.Publish(ipc.NumberValue(1), time.Now()))
	th.start(t)
	ofA, ofB := newRecorder(), newRecorder()
	_, err = b.Subscribe("shared.x", ofA.event, ipc.OwnedBy("a"))
	must(t, err)
	s, err := b.Subscribe("shared.x", ofB.event, ipc.OwnedBy("b"))
	must(t, err)
	if s.ID() != "shared.x" {
		t.Fatalf("ID %q", s.ID())
	}
	ofA.waitFor(t, "shared.x=1")
	must(t, p.Publish(ipc.NumberValue(2), time.Now()))
	ofA.waitFor(t, "shared.x=2")
	if got := ofB.list(); len(got) != 0 {
		t.Fatalf("a subscription to b's shared.x saw a's: %v", got)
	}
}

// A latest-only follower that is slow ends on the latest content of every
// id, sees each id's events in order and far fewer of them, and is no
// interest for the publisher, whose events stay coalesced.
func TestLatestOnlySlowFollower(t *testing.T) {
	for _, where := range []string{"another process", "the same process"} {
		t.Run(where, func(t *testing.T) {
			th := newTestHub(t)
			a, ap := th.bus(t, "a")
			b := a
			if where == "another process" {
				b, _ = th.bus(t, "b")
			}
			const ids, n = 10, 2000
			var pubs []*ipc.Publisher
			for i := range ids {
				p, err := a.RegisterValue(ipc.Description{ID: fmt.Sprintf("p.%d", i), Type: ipc.TypeNumber}, nil)
				must(t, err)
				pubs = append(pubs, p)
			}
			th.start(t)

			gate := make(chan struct{})
			first := make(chan struct{}, 1)
			var mu sync.Mutex
			last := map[string]float64{}
			seen, disorder := 0, 0
			done := make(chan struct{})
			_, err := b.SubscribePattern(">", func(ev ipc.Event) {
				select {
				case first <- struct{}{}:
					<-gate // slow: busy until the test lets it go
				default:
				}
				mu.Lock()
				defer mu.Unlock()
				seen++
				if prev, ok := last[ev.ID]; ok && ev.Value.Number() <= prev {
					disorder++
				}
				last[ev.ID] = ev.Value.Number()
				if len(last) == ids {
					for _, v := range last {
						if v != n-1 {
							return
						}
					}
					close(done)
				}
			}, ipc.LatestOnly())
			must(t, err)
			for i, p := range pubs {
				must(t, p.Publish(ipc.NumberValue(-1), time.Now()))
				if i == 0 {
					testbus.Wait(t, first, "the follower's first event")
				}
			}
			must(t, ap.Flush(context.Background())) // what the hub told a has reached it
			for v := range n {
				for _, p := range pubs {
					must(t, p.Publish(ipc.NumberValue(float64(v)), time.Now()))
				}
			}
			for _, p := range pubs {
				if p.Followed() {
					t.Fatalf("%s: a latest-only follower is interest", p.ID())
				}
			}
			close(gate)
			testbus.Wait(t, done, "the latest value of every id")
			mu.Lock()
			defer mu.Unlock()
			if disorder > 0 {
				t.Fatalf("%d events out of order", disorder)
			}
			if seen > 5*ids {
				t.Fatalf("the follower saw %d of %d events: not coalesced", seen, ids*(n+1))
			}
			t.Logf("the follower saw %d of %d events", seen, ids*(n+1))
		})
	}
}

// A subscription that wants every event makes the hub send every event,
// next to a latest-only one, and is interest again once it is the only one.
func TestLatestOnlyAndFullSubscriptionsTogether(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	b, _ := th.bus(t, "b")
	p, err := a.RegisterValue(ipc.Description{ID: "x", Type: ipc.TypeNumber}, nil)
	must(t, err)
	must(t, p.Publish(ipc.NumberValue(0), time.Now()))
	th.start(t)
	latest, full := newRecorder(), newRecorder()
	ls, err := b.Subscribe("x", latest.event, ipc.LatestOnly())
	must(t, err)
	latest.waitFor(t, "x=0")
	fs, err := b.Subscribe("x", full.event)
	must(t, err)
	full.waitFor(t, "x=0")
	testbus.Eventually(t, "a to learn that b follows x", p.Followed)
	for v := 1; v <= 100; v++ {
		must(t, p.Publish(ipc.NumberValue(float64(v)), time.Now()))
	}
	latest.waitFor(t, "x=100")
	for v := 1; v <= 100; v++ {
		full.waitFor(t, fmt.Sprintf("x=%d", v))
	}
	fs.Close()
	testbus.Eventually(t, "a to learn that b no longer follows x in full", func() bool { return !p.Followed() })
	must(t, p.Publish(ipc.NumberValue(101), time.Now()))
	latest.waitFor(t, "x=101")
	ls.Close()
}

// Descriptions are checked where they enter: a process refuses what it
// cannot announce, naming the id.
func TestDescriptionsAreChecked(t *testing.T) {
	th := newTestHub(t)
	a, _ := th.bus(t, "a")
	for _, c := range []struct {
		name string
		err  error
		says string
	}{
		{"value as announce", a.Announce(ipc.Description{ID: "v", Kind: ipc.KindValue}), `"v": a value is registered with RegisterValue`},
		{"invalid id", a.Announce(ipc.Description{ID: "a b", Kind: ipc.KindSensor}), "invalid id"},
		{"invalid parent", a.Announce(ipc.Description{ID: "s", Kind: ipc.KindSensor, Parent: "x y"}), "parent"},
		{"NaN bound", a.Announce(ipc.Description{ID: "s", Kind: ipc.KindSensor, Min: new(nan())}), "NaN"},
		{"choice text", func() error {
			_, err := a.RegisterValue(ipc.Description{ID: "e", Type: ipc.TypeEnum, Choices: []ipc.Choice{{Value: "a", Text: "\xff"}}}, nil)
			return err
		}(), `value "e": text of choice "a"`},
		{"meta", a.Announce(ipc.Description{ID: "s", Kind: ipc.KindSensor, Meta: map[string]string{"k": "\xfe"}}), `metadata "k"`},
		{"no type", func() error { _, err := a.RegisterValue(ipc.Description{ID: "t"}, nil); return err }(), "unknown type"},
		{"param kind", a.RegisterAction(ipc.Description{ID: "act", Params: []ipc.Param{{Name: "p", Type: ipc.DataType{Kind: 99}}}}, nop), "parameter 1"},
		{"action as value", func() error {
			_, err := a.RegisterValue(ipc.Description{ID: "w", Kind: ipc.KindAction}, nil)
			return err
		}(), "its kind is action, not value"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.says) {
			t.Errorf("%s: error %v, want one saying %q", c.name, c.err, c.says)
		}
	}
	must(t, a.Announce(ipc.Description{ID: "dup", Kind: ipc.KindSensor}))
	if err := a.Announce(ipc.Description{ID: "dup", Kind: ipc.KindController}); !errors.Is(err, ipc.ErrDuplicateID) {
		t.Errorf("duplicate announcement: %v", err)
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}
