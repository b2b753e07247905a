package dashboard

import (
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
)

// clock is a test's clock, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSessionStore(t *testing.T) {
	ck := &clock{t: time.Unix(1000, 0)}
	st := newSessionStore(time.Hour, 3, ck.now)
	ann := &user{name: "ann"}
	tok, s := st.create(ann)
	if len(tok) != 43 { // 32 bytes, base64url without padding
		t.Fatalf("token %q: %d characters", tok, len(tok))
	}
	if got, ok := st.get(tok); !ok || got != s || got.user != ann {
		t.Fatal("a new session is not found")
	}
	if _, ok := st.get(tok + "x"); ok {
		t.Fatal("another token is accepted")
	}
	if _, ok := st.get(""); ok {
		t.Fatal("an empty token is accepted")
	}

	// The lifetime is fixed: using the session does not extend it.
	ck.t = ck.t.Add(59 * time.Minute)
	if _, ok := st.get(tok); !ok {
		t.Fatal("expired early")
	}
	ck.t = ck.t.Add(time.Minute)
	if _, ok := st.get(tok); ok {
		t.Fatal("valid at its expiry")
	}
	select {
	case <-s.done:
	default:
		t.Fatal("an expired session is not ended")
	}

	// Bounded: a fourth session ends the one that expires first.
	toks := make([]string, 4)
	sess := make([]*session, 4)
	for i := range toks {
		toks[i], sess[i] = st.create(&user{name: string(rune('a' + i))})
		ck.t = ck.t.Add(time.Second)
	}
	if n := st.len(); n != 3 {
		t.Fatalf("%d sessions held; want 3", n)
	}
	if _, ok := st.get(toks[0]); ok {
		t.Fatal("the oldest session survived")
	}
	<-sess[0].done
	for _, tk := range toks[1:] {
		if _, ok := st.get(tk); !ok {
			t.Fatal("a newer session was ended")
		}
	}
	// Logout.
	st.end(toks[3])
	<-sess[3].done
	if _, ok := st.get(toks[3]); ok {
		t.Fatal("valid after logout")
	}
	st.end(toks[3]) // twice is harmless

	// One user holds at most maxSessionsPerUser sessions.
	st = newSessionStore(time.Hour, 1000, ck.now)
	first, _ := st.create(ann)
	for range maxSessionsPerUser {
		ck.t = ck.t.Add(time.Second)
		st.create(ann)
	}
	if n := st.len(); n != maxSessionsPerUser {
		t.Fatalf("%d sessions of one user", n)
	}
	if _, ok := st.get(first); ok {
		t.Fatal("the user's oldest session survived")
	}
}

func TestLimiter(t *testing.T) {
	ck := &clock{t: time.Unix(1000, 0)}
	l := newLimiter(2, 30*time.Second, ck.now)
	for i := range 2 {
		if ok, _ := l.allow("ip"); !ok {
			t.Fatalf("attempt %d refused", i)
		}
	}
	ck.t = ck.t.Add(10 * time.Second)
	ok, wait := l.allow("ip")
	if ok || wait != 20*time.Second {
		t.Fatalf("third attempt: %v, wait %v", ok, wait)
	}
	if ok, _ := l.allow("other"); !ok {
		t.Fatal("another key is limited")
	}
	ck.t = ck.t.Add(20 * time.Second)
	if ok, _ := l.allow("ip"); !ok {
		t.Fatal("refused in the next window")
	}
	l.reset("ip")
	if ok, _ := l.allow("ip"); !ok {
		t.Fatal("refused after reset")
	}

	// Bounded: a key beyond the bound drops the windows that are over.
	for i := range maxLimiterKeys + 10 {
		l.allow(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String())
	}
	if n := len(l.keys); n > maxLimiterKeys {
		t.Fatalf("%d keys held", n)
	}
}

func place(ps ...layout.Placement) ipc.Meta { return ipc.Meta{layout.MetaKey: layout.Encode(ps...)} }

func TestAccessRules(t *testing.T) {
	entries := map[string]ipc.Description{}
	add := func(d ipc.Description) { entries[d.ID] = d }
	add(ipc.Description{ID: "open", Kind: ipc.KindValue})
	add(ipc.Description{ID: "fam", Kind: ipc.KindValue, Meta: place(layout.Placement{Panel: "p", Read: []string{"family"}})})
	add(ipc.Description{ID: "famw", Kind: ipc.KindValue, Meta: place(layout.Placement{Panel: "p", Write: []string{"admin"}})})
	// The panel "locked" of dashboard "d" is for admins, declared by one component.
	add(ipc.Description{ID: "a1", Kind: ipc.KindValue, Meta: place(layout.Placement{Dashboard: "d", Panel: "locked", PanelSpec: &layout.Spec{Read: []string{"admin"}}})})
	add(ipc.Description{ID: "a2", Kind: ipc.KindValue, Meta: place(layout.Placement{Dashboard: "d", Panel: "locked"})})
	// Placed twice: locked, and open in the header.
	add(ipc.Description{ID: "both", Kind: ipc.KindValue, Meta: place(layout.Placement{Dashboard: "d", Panel: "locked"}, layout.Placement{Dashboard: "d", Panel: layout.Header})})
	// A controller for family, and its value without placements.
	add(ipc.Description{ID: "ctl", Kind: ipc.KindController, Meta: place(layout.Placement{Read: []string{"family"}})})
	add(ipc.Description{ID: "ctl.out", Kind: ipc.KindValue, Parent: "ctl"})
	add(ipc.Description{ID: "broken", Kind: ipc.KindValue, Meta: ipc.Meta{layout.MetaKey: "nope"}})
	add(ipc.Description{ID: "nowhere", Kind: ipc.KindValue, Meta: place()})
	add(ipc.Description{ID: "kervi.log", Kind: ipc.KindValue})

	s := &Server{auth: &auth{}, entries: entries, placements: map[string][]layout.Placement{}, rules: map[string]*rule{}}
	s.log = slog.New(slog.DiscardHandler)
	for id := range entries {
		d := entries[id]
		s.updateAccessLocked(id, &d)
	}
	ann := &user{name: "ann", groups: []string{"family"}}
	bob := &user{name: "bob"}
	root := &user{name: "root", groups: []string{"admin"}}
	for _, tc := range []struct {
		id                   string
		u                    *user
		read, write          bool
		dash, panel          string
		visibleOnThatPanel   bool
		visibleOnOtherPlaces bool
	}{
		{"open", bob, true, true, "main", "", true, true},
		{"fam", ann, true, true, "main", "p", true, true},
		{"fam", bob, false, false, "main", "p", false, false},
		{"famw", bob, true, false, "main", "p", true, true},
		{"famw", root, true, true, "main", "p", true, true},
		{"a2", ann, false, false, "d", "locked", false, false},
		{"a2", root, true, true, "d", "locked", true, true},
		{"both", ann, true, true, "d", "locked", false, true},
		{"ctl.out", ann, true, true, "main", "", true, true},
		{"ctl.out", bob, false, false, "main", "", false, false},
		{"broken", root, false, false, "main", "", false, false},
		{"nowhere", bob, true, true, "main", "", true, true},
		{"kervi.log", bob, true, false, "main", "", true, true},
		{"unknown", root, false, false, "main", "", false, false},
		{"kervi.unknown", root, false, false, "main", "", false, false},
	} {
		if got := s.canRead(tc.u, tc.id); got != tc.read {
			t.Errorf("canRead(%s, %s) = %v", tc.u.name, tc.id, got)
		}
		if got := s.canWrite(tc.u, tc.id); got != tc.write {
			t.Errorf("canWrite(%s, %s) = %v", tc.u.name, tc.id, got)
		}
		if got := s.visible(tc.u, tc.dash, tc.panel, tc.id); got != tc.visibleOnThatPanel {
			t.Errorf("visible(%s, %s/%s, %s) = %v", tc.u.name, tc.dash, tc.panel, tc.id, got)
		}
		if got := s.visible(tc.u, "all", "auto", tc.id); got != tc.visibleOnOtherPlaces {
			t.Errorf("visible(%s, all/auto, %s) = %v", tc.u.name, tc.id, got)
		}
	}
	if s.canRead(nil, "open") || s.canWrite(nil, "open") || s.visible(nil, "main", "", "open") {
		t.Error("no user is let in")
	}

	// A component whose parent is not announced yet is readable by no
	// user; the parent's announcement lets it be.
	orphan := ipc.Description{ID: "lone.v", Kind: ipc.KindValue, Parent: "lone"}
	entries[orphan.ID] = orphan
	s.updateAccessLocked(orphan.ID, &orphan)
	if s.canRead(root, "lone.v") || s.canWrite(root, "lone.v") {
		t.Error("a component of an unknown parent is readable")
	}
	parent := ipc.Description{ID: "lone", Kind: ipc.KindController}
	entries[parent.ID] = parent
	if changed := s.updateAccessLocked(parent.ID, &parent); !slices.Contains(changed, "lone.v") || !s.canRead(bob, "lone.v") {
		t.Errorf("after its parent: readable %v, changed %v", s.canRead(bob, "lone.v"), changed)
	}

	// A later announcement that declares the panel differently changes
	// nothing (the first declaration wins); retiring the declaring
	// component hands the panel to the next one's declaration.
	d := ipc.Description{ID: "a0", Kind: ipc.KindValue, Meta: place(layout.Placement{Dashboard: "d", Panel: "locked", PanelSpec: &layout.Spec{}})}
	entries["a0"] = d
	changed := s.updateAccessLocked("a0", &d)
	if !s.canRead(ann, "a2") || !strings.Contains(strings.Join(changed, ","), "a2") {
		t.Errorf("a0 first by id declares the panel open: a2 readable %v, changed %v", s.canRead(ann, "a2"), changed)
	}

	// Without users, everything is open.
	open := &Server{}
	if !open.canRead(nil, "fam") || !open.canWrite(nil, "kervi.modules") || !open.visible(nil, "d", "locked", "a2") {
		t.Error("without users, something is closed")
	}
}
