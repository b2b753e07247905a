package natsnode

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kervi/kervi-go/nodes"
)

// site is main's server with a leaf listener and a site's server, hub
// "shed" with members pi2 and pi3, leaf of main's.
type site struct {
	dir              *nodes.Dir
	mainCfg, siteCfg ServerConfig
	main, site       *server.Server
	joins            map[string]*nodes.Join
}

// startSite starts main's server and the shed's; extra users are let into
// the shed's server as they are (to test what main lets through).
func startSite(t *testing.T, extra ...*server.NkeyUser) *site {
	t.Helper()
	dir, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{dir: dir, joins: map[string]*nodes.Join{nodes.MainNode: dir.MainJoin()}}
	for _, n := range []string{"pi2", "pi3", "far"} {
		if s.joins[n], err = dir.Add(n, []string{"tls://127.0.0.1:4222"}); err != nil {
			t.Fatal(err)
		}
	}
	mainTLS, err := dir.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	mainPub, _ := s.joins[nodes.MainNode].PublicKey()
	// The shed's join needs main's leaf URL, known once main listens: pair
	// it with a placeholder and dial what main got.
	if s.joins["shed"], err = dir.AddLeaf("shed", []string{"pi2", "pi3"}, []string{"tls://127.0.0.1:7422"}, nil); err != nil {
		t.Fatal(err)
	}
	keys := []NodeKey{{Name: nodes.MainNode, PublicKey: mainPub}}
	for _, n := range dir.Nodes() {
		keys = append(keys, NodeKey{Name: n.Name, PublicKey: n.PublicKey, Members: n.Members})
	}
	s.mainCfg = ServerConfig{App: testApp, Listen: "127.0.0.1:0", LeafListen: "127.0.0.1:0", Nodes: keys, TLS: mainTLS, Logger: testLogger(t)}
	if s.main, err = StartServer(s.mainCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.main.Shutdown(); s.main.WaitForShutdown() })

	shed := s.joins["shed"]
	shedPub, _ := shed.PublicKey()
	siteKeys := []NodeKey{{Name: "shed", PublicKey: shedPub}}
	for _, m := range shed.Leaf.Members {
		siteKeys = append(siteKeys, NodeKey{Name: m.Name, PublicKey: m.PublicKey})
	}
	siteTLS, err := shed.Leaf.TLS()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := shed.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	s.siteCfg = ServerConfig{App: testApp, Listen: "127.0.0.1:0", Nodes: siteKeys, TLS: siteTLS, Logger: testLogger(t),
		Remote: &Remote{URLs: []string{s.mainCfg.LeafURL(s.main)}, Seed: []byte(shed.Seed), RootCAs: pool}}
	opts, err := s.siteCfg.serverOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.Nkeys = append(opts.Nkeys, extra...)
	if s.site, err = startServer(s.siteCfg, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.site.Shutdown(); s.site.WaitForShutdown() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for s.main.NumLeafNodes() == 0 || s.site.NumLeafNodes() == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("the shed's leaf did not connect to main within 10 s (main %d, site %d)", s.main.NumLeafNodes(), s.site.NumLeafNodes())
		case <-time.After(10 * time.Millisecond): // polling the server's state, not synchronising with a sleep
		}
	}
	return s
}

// dialMain connects node to main's server; dialSite to the shed's, over
// TLS with the shed's certificate, pinned to main's CA.
func (s *site) dialMain(t *testing.T, node string) *conn {
	t.Helper()
	cn, err := dialTest(t, DialConfig{App: testApp, Node: node, URLs: []string{s.mainCfg.URL(s.main)},
		Seed: []byte(s.joins[node].Seed), RootCAs: s.dir.CAPool()})
	if err != nil {
		t.Fatalf("node %s to main: %v", node, err)
	}
	return cn
}

func (s *site) dialSite(t *testing.T, node string) *conn {
	t.Helper()
	url := s.siteCfg.URL(s.site)
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("site URL %q, want tls://", url)
	}
	cn, err := dialTest(t, DialConfig{App: testApp, Node: node, URLs: []string{url},
		Seed: []byte(s.joins[node].Seed), RootCAs: s.dir.CAPool()})
	if err != nil {
		t.Fatalf("node %s to the shed: %v", node, err)
	}
	return cn
}

// await publishes subj from pub until sub gets it: interest crosses a leaf
// asynchronously.
func await(t *testing.T, pub *nats.Conn, subj string, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for {
		if err := pub.Publish(subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
			return m
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never reached %s through the leaf within 5 s", subj, sub.Subject)
		}
	}
}

// drain empties sub of what repeated publishes left.
func drain(sub *nats.Subscription) {
	for {
		if _, err := sub.NextMsg(100 * time.Millisecond); err != nil {
			return
		}
	}
}

func TestSiteMemberEventsAndCallsCrossTheLeaf(t *testing.T) {
	s := startSite(t)
	m, pi2 := s.dialMain(t, nodes.MainNode), s.dialSite(t, "pi2")
	// The hub's own node dials its server in-process.
	shedConn, err := dialTest(t, DialConfig{App: testApp, Node: "shed", Server: s.site, Seed: []byte(s.joins["shed"].Seed)})
	if err != nil {
		t.Fatal(err)
	}
	shed := shedConn.nc

	evMain, _ := m.nc.SubscribeSync(Prefix(testApp) + ".ev.>")
	m.nc.Flush()
	await(t, pi2.nc, EventSubject(testApp, "pi2", "t"), evMain)
	await(t, shed, EventSubject(testApp, "shed", "t"), evMain)
	drain(evMain)
	evPi2, _ := pi2.nc.SubscribeSync(Prefix(testApp) + ".ev.main.>")
	pi2.nc.Flush()
	await(t, m.nc, EventSubject(testApp, "main", "mode"), evPi2)

	// Calls both ways, replies on the callers' inboxes through the leaf.
	for _, side := range []struct {
		callee *conn
		node   string
		caller *nats.Conn
		from   string
	}{{pi2, "pi2", m.nc, "main"}, {m, "main", pi2.nc, "pi2"}} {
		sub, err := side.callee.nc.Subscribe(ReqSubject(testApp, side.node, side.from), func(msg *nats.Msg) { msg.Respond(append([]byte(side.node+":"), msg.Data...)) })
		if err != nil {
			t.Fatal(err)
		}
		side.callee.nc.Flush()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var reply *nats.Msg
		for reply == nil { // until the responder's interest crossed the leaf
			reply, err = side.caller.RequestWithContext(ctx, ReqSubject(testApp, side.node, side.from), []byte("ping"))
			if err != nil && ctx.Err() != nil {
				t.Fatalf("call to %s through the leaf: %v", side.node, err)
			}
		}
		cancel()
		if string(reply.Data) != side.node+":ping" {
			t.Errorf("call to %s: reply %q", side.node, reply.Data)
		}
		sub.Unsubscribe()
	}
	for _, c := range []*conn{m, pi2} {
		select {
		case err := <-c.errs:
			t.Errorf("asynchronous error: %v", err)
		default:
		}
	}
}

func TestSiteMemberCannotActForAnother(t *testing.T) {
	s := startSite(t)
	m, pi2 := s.dialMain(t, nodes.MainNode), s.dialSite(t, "pi2")
	evMain, _ := m.nc.SubscribeSync(Prefix(testApp) + ".ev.>")
	m.nc.Flush()
	await(t, pi2.nc, EventSubject(testApp, "pi2", "t"), evMain)
	drain(evMain)

	if err := pi2.nc.Publish(EventSubject(testApp, "pi3", "t"), []byte("forged")); err != nil {
		t.Fatal(err)
	}
	pi2.waitErr(t, "Permissions Violation for Publish")
	if _, err := pi2.nc.SubscribeSync(ReqSubject(testApp, "pi3", "*")); err != nil {
		t.Fatal(err)
	}
	pi2.waitErr(t, "Permissions Violation for Subscription")
	// pi2's later event arrives; the forged one, before it, did not.
	if err := pi2.nc.Publish(EventSubject(testApp, "pi2", "after"), nil); err != nil {
		t.Fatal(err)
	}
	if got := next(t, evMain); got.Subject != EventSubject(testApp, "pi2", "after") {
		t.Fatalf("main got %s, want only pi2's own events", got.Subject)
	}
}

// TestMainLimitsTheLeafToItsSite lets a user with every permission into
// the shed's server: main still takes only the events of the shed and its
// members through the leaf.
func TestMainLimitsTheLeafToItsSite(t *testing.T) {
	rogue := s0(t)
	s := startSite(t, &server.NkeyUser{Nkey: rogue.pub})
	m := s.dialMain(t, nodes.MainNode)
	nc, err := nats.Connect(s.siteCfg.URL(s.site), nats.Nkey(rogue.pub, rogue.sign), nats.RootCAs(filepath.Join(s.dir.Path(), "ca.pem")))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	evMain, _ := m.nc.SubscribeSync(Prefix(testApp) + ".ev.>")
	m.nc.Flush()
	await(t, nc, EventSubject(testApp, "pi3", "t"), evMain)
	drain(evMain)
	for _, n := range []string{"far", "main"} {
		if err := nc.Publish(EventSubject(testApp, n, "t"), []byte("forged")); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(EventSubject(testApp, "shed", "after"), nil); err != nil {
		t.Fatal(err)
	}
	if got := next(t, evMain); got.Subject != EventSubject(testApp, "shed", "after") {
		t.Fatalf("main took %s %q through the shed's leaf, want only the site's events", got.Subject, got.Data)
	}
	// Requests to a node outside the site do not reach the leaf either.
	reqSite, _ := nc.SubscribeSync(ReqSubject(testApp, "far", "*"))
	nc.Flush()
	if err := m.nc.Publish(ReqSubject(testApp, "far", "main"), nil); err != nil {
		t.Fatal(err)
	}
	noMsg(t, reqSite, nc, m.nc)
}

func TestSiteRefusesAnotherCAAndStrangers(t *testing.T) {
	s := startSite(t)
	other, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := Dial(ctx, DialConfig{App: testApp, Node: "pi2", URLs: []string{s.siteCfg.URL(s.site)},
		Seed: []byte(s.joins["pi2"].Seed), RootCAs: other.CAPool()}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("dialing the shed pinning another CA: %v, want a certificate error", err)
	}
	// "far" is paired with main, not a member of the shed's site.
	if _, err := dialTest(t, DialConfig{App: testApp, Node: "far", URLs: []string{s.siteCfg.URL(s.site)},
		Seed: []byte(s.joins["far"].Seed), RootCAs: s.dir.CAPool()}); !IsAuthError(err) {
		t.Errorf("a node outside the site dialing the shed: %v, want an authorization error", err)
	}
}

func TestRemoteIsChecked(t *testing.T) {
	j := func() *nodes.Join {
		d, err := nodes.OpenDir(t.TempDir(), testApp)
		if err != nil {
			t.Fatal(err)
		}
		return d.MainJoin()
	}()
	for _, tc := range []struct {
		r    Remote
		want string
	}{
		{Remote{Seed: []byte(j.Seed)}, "no URL"},
		{Remote{URLs: []string{"nats://10.1.2.3:7422"}, Seed: []byte(j.Seed)}, "main's CA must be pinned"},
		{Remote{URLs: []string{"http://127.0.0.1:7422"}, Seed: []byte(j.Seed)}, "want nats://"},
		{Remote{URLs: []string{"nats://127.0.0.1:7422"}, Seed: []byte("SUnope")}, "seed"},
	} {
		cfg := ServerConfig{App: testApp, Nodes: []NodeKey{{Name: "shed", PublicKey: mustPub(t, j)}}, Remote: &tc.r}
		if _, err := cfg.serverOptions(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("remote %+v: %v, want %q", tc.r.URLs, err, tc.want)
		}
	}
	cfg := ServerConfig{App: testApp, Nodes: []NodeKey{{Name: "shed", PublicKey: mustPub(t, j), Members: []string{"bad name"}}}}
	if _, err := cfg.serverOptions(); err == nil || !strings.Contains(err.Error(), "node shed: member") {
		t.Errorf("a bad member name: %v", err)
	}
}

func TestMergePermissions(t *testing.T) {
	p := MergePermissions(Permissions(testApp, "shed"), Permissions(testApp, "pi2"))
	for _, want := range []string{"kervi.app.ev.shed.>", "kervi.app.ev.pi2.>", "kervi.app.hb.pi2", "kervi.app.to.*.pi2.*", "kervi.app.to.*.shed.*"} {
		if !slices.Contains(p.Publish.Allow, want) {
			t.Errorf("merged publish lacks %s: %v", want, p.Publish.Allow)
		}
	}
	for _, want := range []string{"kervi.app.to.shed.>", "kervi.app.to.pi2.>", "kervi.app.in.pi2.>", "kervi.app.ev.>"} {
		if !slices.Contains(p.Subscribe.Allow, want) {
			t.Errorf("merged subscribe lacks %s: %v", want, p.Subscribe.Allow)
		}
	}
	if n := strings.Count(strings.Join(p.Subscribe.Allow, " "), "kervi.app.ev.>"); n != 1 {
		t.Errorf("kervi.app.ev.> listed %d times", n)
	}
	if p.Response == nil || p.Response.MaxMsgs != 1 || p.Response.Expires != responseTTL {
		t.Errorf("merged response permission %+v", p.Response)
	}
	sp := SitePermissions(testApp, "shed", []string{"pi2"})
	if !slices.Contains(sp.Publish.Allow, "kervi.app.in.>") || !slices.Contains(sp.Publish.Allow, "kervi.app.ev.pi2.>") ||
		slices.Contains(sp.Publish.Allow, "kervi.app.ev.>") {
		t.Errorf("site permissions: publish %v, want the site's events and every inbox", sp.Publish.Allow)
	}
}

func mustPub(t *testing.T, j *nodes.Join) string {
	t.Helper()
	pub, err := j.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// rogueUser is an NKEY user outside the pairing.
type rogueUser struct {
	pub  string
	sign nats.SignatureHandler
}

func s0(t *testing.T) rogueUser {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return rogueUser{pub: pub, sign: kp.Sign}
}

// TestSiteStartsBeforeMain: the shed's server starts while main's is
// down; its members talk at once, and the leaf connects when main comes.
func TestSiteStartsBeforeMain(t *testing.T) {
	dir, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	pi2, err := dir.Add("pi2", []string{"tls://127.0.0.1:4222"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	leafAddr := l.Addr().String()
	l.Close()
	shed, err := dir.AddLeaf("shed", []string{"pi2"}, []string{"tls://" + leafAddr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	siteTLS, _ := shed.Leaf.TLS()
	siteCfg := ServerConfig{App: testApp, Listen: "127.0.0.1:0", TLS: siteTLS, Logger: testLogger(t),
		Nodes:  []NodeKey{{Name: "shed", PublicKey: mustPub(t, shed)}, {Name: "pi2", PublicKey: shed.Leaf.Members[0].PublicKey}},
		Remote: &Remote{URLs: shed.URLs, Seed: []byte(shed.Seed), RootCAs: dir.CAPool()}}
	siteSrv, err := StartServer(siteCfg)
	if err != nil {
		t.Fatalf("the site's server with main away: %v", err)
	}
	t.Cleanup(func() { siteSrv.Shutdown(); siteSrv.WaitForShutdown() })
	p, err := dialTest(t, DialConfig{App: testApp, Node: "pi2", URLs: []string{siteCfg.URL(siteSrv)}, Seed: []byte(pi2.Seed), RootCAs: dir.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := dialTest(t, DialConfig{App: testApp, Node: "shed", Server: siteSrv, Seed: []byte(shed.Seed)})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := h.nc.SubscribeSync(ReqSubject(testApp, "shed", "pi2"))
	go func() {
		if m, err := sub.NextMsg(5 * time.Second); err == nil {
			m.Respond([]byte("shed"))
		}
	}()
	h.nc.Flush()
	if r, err := p.nc.Request(ReqSubject(testApp, "shed", "pi2"), nil, 5*time.Second); err != nil || string(r.Data) != "shed" {
		t.Fatalf("pi2 → shed with main away: %v %v", r, err)
	}

	mainTLS, _ := dir.ServerTLS()
	keys := []NodeKey{{Name: nodes.MainNode, PublicKey: mustPub(t, dir.MainJoin())}}
	for _, n := range dir.Nodes() {
		keys = append(keys, NodeKey{Name: n.Name, PublicKey: n.PublicKey, Members: n.Members})
	}
	mainSrv, err := StartServer(ServerConfig{App: testApp, LeafListen: leafAddr, Nodes: keys, TLS: mainTLS, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mainSrv.Shutdown(); mainSrv.WaitForShutdown() })
	m, err := dialTest(t, DialConfig{App: testApp, Node: nodes.MainNode, Server: mainSrv, Seed: []byte(dir.MainJoin().Seed)})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := m.nc.SubscribeSync(Prefix(testApp) + ".ev.pi2.>")
	m.nc.Flush()
	await(t, p.nc, EventSubject(testApp, "pi2", "t"), ev)
}
