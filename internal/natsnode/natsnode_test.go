package natsnode

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kervi/kervi-go/nodes"
)

const testApp = "app"

// cluster is a server of testApp with TLS from a pairing directory and
// nodes a and b paired.
type cluster struct {
	dir   *nodes.Dir
	cfg   ServerConfig
	srv   *server.Server
	url   string
	joins map[string]*nodes.Join
}

func startCluster(t *testing.T, extra ...*server.NkeyUser) *cluster {
	t.Helper()
	dir, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, joins: map[string]*nodes.Join{nodes.MainNode: dir.MainJoin()}}
	keys := []NodeKey{}
	for _, n := range []string{"a", "b"} {
		j, err := dir.Add(n, []string{"tls://127.0.0.1:4222"})
		if err != nil {
			t.Fatal(err)
		}
		c.joins[n] = j
	}
	for name, j := range c.joins {
		pub, err := j.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, NodeKey{Name: name, PublicKey: pub})
	}
	tlsConf, err := dir.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	c.cfg = ServerConfig{App: testApp, Listen: "127.0.0.1:0", Nodes: keys, TLS: tlsConf, Logger: testLogger(t)}
	opts, err := c.cfg.serverOptions()
	if err != nil {
		t.Fatal(err)
	}
	opts.Nkeys = append(opts.Nkeys, extra...)
	c.srv, err = startServer(c.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	})
	c.url = c.cfg.URL(c.srv)
	if !strings.HasPrefix(c.url, "tls://127.0.0.1:") {
		t.Fatalf("URL %q, want tls://127.0.0.1:port", c.url)
	}
	return c
}

// conn is a node's connection and the asynchronous errors it reported.
type conn struct {
	nc   *nats.Conn
	errs chan error
}

func (c *cluster) dial(t *testing.T, node string) *conn {
	t.Helper()
	j := c.joins[node]
	cn, err := dialTest(t, DialConfig{App: testApp, Node: node, URLs: []string{c.url}, Seed: []byte(j.Seed), RootCAs: c.dir.CAPool()})
	if err != nil {
		t.Fatalf("node %s: %v", node, err)
	}
	return cn
}

func dialTest(t *testing.T, cfg DialConfig) (*conn, error) {
	t.Helper()
	cn := &conn{errs: make(chan error, 64)}
	cfg.PingInterval, cfg.MaxPingsOut = 100*time.Millisecond, 3
	cfg.OnError = func(err error) {
		select {
		case cn.errs <- err:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	nc, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	cn.nc = nc
	return cn, nil
}

// waitErr waits for an asynchronous error containing want.
func (cn *conn) waitErr(t *testing.T, want string) error {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-cn.errs:
			if strings.Contains(err.Error(), want) {
				return err
			}
		case <-deadline:
			t.Fatalf("no asynchronous error containing %q within 5 s", want)
			return nil
		}
	}
}

func next(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("subscription %s: %v", sub.Subject, err)
	}
	return m
}

// noMsg checks that sub got nothing, after a round trip of every given
// connection (so anything they sent before has been processed by the
// server) and one of sub's own.
func noMsg(t *testing.T, sub *nats.Subscription, via *nats.Conn, others ...*nats.Conn) {
	t.Helper()
	for _, nc := range others {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := via.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("subscription %s got %s %q", sub.Subject, m.Subject, m.Data)
	}
}

func TestNodesExchangeEventsOverTLSAndInProcess(t *testing.T) {
	c := startCluster(t)
	a, b := c.dial(t, "a"), c.dial(t, "b")
	m, err := dialTest(t, DialConfig{App: testApp, Node: nodes.MainNode, Server: c.srv, Seed: []byte(c.joins[nodes.MainNode].Seed)})
	if err != nil {
		t.Fatal(err)
	}
	if !a.nc.TLSRequired() {
		t.Error("node a is connected without TLS")
	}
	subB, err := b.nc.SubscribeSync(Prefix(testApp) + ".ev.>")
	if err != nil {
		t.Fatal(err)
	}
	subM, err := m.nc.SubscribeSync(EventSubject(testApp, "a", "x..y"))
	if err != nil {
		t.Fatal(err)
	}
	for _, nc := range []*nats.Conn{b.nc, m.nc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.nc.Publish(EventSubject(testApp, "a", "x..y"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []*nats.Subscription{subB, subM} {
		if got := next(t, sub); got.Subject != "kervi.app.ev.a.x.%.y" || string(got.Data) != "1" {
			t.Errorf("got %s %q", got.Subject, got.Data)
		}
	}
	if n := a.nc.ConnectedServerName(); n != "kervi-"+testApp {
		t.Errorf("server name %q", n)
	}
}

func TestUnknownKeyIsRefused(t *testing.T) {
	c := startCluster(t)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	start := time.Now()
	_, err = dialTest(t, DialConfig{App: testApp, Node: "a", URLs: []string{c.url}, Seed: seed, RootCAs: c.dir.CAPool()})
	if !IsAuthError(err) {
		t.Fatalf("dial with an unknown key: %v, want an authorization error", err)
	}
	t.Logf("refused: %v", err)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the refusal took %v: it should end the wait, not the context", d)
	}
	if !strings.Contains(err.Error(), "node a of app") {
		t.Errorf("error %q does not name the node and app", err)
	}
}

func TestNodeCannotActForAnotherNode(t *testing.T) {
	c := startCluster(t)
	a, b := c.dial(t, "a"), c.dial(t, "b")
	subB, err := b.nc.SubscribeSync(EventSubject(testApp, "b", "v"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// a publishes b's event: refused, b sees nothing.
	if err := a.nc.Publish(EventSubject(testApp, "b", "v"), []byte("forged")); err != nil {
		t.Fatal(err)
	}
	a.waitErr(t, `Publish to "kervi.app.ev.b.v"`)
	noMsg(t, subB, b.nc, a.nc)

	// a sends b a control request or a call as main: refused.
	ctlB, err := b.nc.SubscribeSync(CtlSubject(testApp, "b", "main"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{CtlSubject(testApp, "b", "main"), ReqSubject(testApp, "b", "main")} {
		if err := a.nc.Publish(subj, []byte(`{"op":"unfollow","node":"main"}`)); err != nil {
			t.Fatal(err)
		}
		a.waitErr(t, `Publish to "`+subj+`"`)
	}
	noMsg(t, ctlB, b.nc, a.nc)

	// a listens to b's requests, control requests and replies: refused.
	for _, subj := range []string{ReqSubject(testApp, "b", "main"), CtlSubject(testApp, "b", "main"), InboxPrefix(testApp, "b") + ".>", Prefix(testApp) + ".to.>"} {
		if _, err := a.nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		err := a.waitErr(t, `Subscription to "`+subj+`"`)
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("subscribe %s: error %v is not a permission violation", subj, err)
		}
	}
	// a publishes b's heartbeat and catalogue: refused.
	for _, subj := range []string{HBSubject(testApp, "b"), CatSubject(testApp, "b")} {
		if err := a.nc.Publish(subj, nil); err != nil {
			t.Fatal(err)
		}
		a.waitErr(t, `Publish to "`+subj+`"`)
	}
}

func TestRequestBetweenNodes(t *testing.T) {
	c := startCluster(t)
	a, b := c.dial(t, "a"), c.dial(t, "b")
	sub, err := b.nc.Subscribe(ReqSubject(testApp, "b", "*"), func(m *nats.Msg) {
		m.Respond(append([]byte("b:"), m.Data...))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	reply, err := a.nc.Request(ReqSubject(testApp, "b", "a"), []byte("ping"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Data) != "b:ping" {
		t.Errorf("reply %q", reply.Data)
	}
	// No responder on a's request subject: the caller learns at once.
	if _, err := b.nc.Request(ReqSubject(testApp, "a", "b"), nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("request to a node with no responder: %v, want no responders", err)
	}
	select {
	case err := <-b.errs:
		t.Errorf("node b: %v", err)
	case err := <-a.errs:
		t.Errorf("node a: %v", err)
	default:
	}
}

func TestOtherAppIsIsolated(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	c := startCluster(t, &server.NkeyUser{Nkey: pub, Permissions: Permissions("other", "a")})
	a := c.dial(t, "a")
	x, err := dialTest(t, DialConfig{App: "other", Node: "a", URLs: []string{c.url}, Seed: seed, RootCAs: c.dir.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	// Other's own wildcard sees nothing of app.
	own, err := x.nc.SubscribeSync(Prefix("other") + ".ev.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.nc.Publish(EventSubject(testApp, "a", "v"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	noMsg(t, own, x.nc, a.nc)

	// Reading or writing app's subjects is refused.
	if _, err := x.nc.SubscribeSync(Prefix(testApp) + ".ev.>"); err != nil {
		t.Fatal(err)
	}
	x.waitErr(t, `Subscription to "kervi.app.ev.>"`)
	subA, err := a.nc.SubscribeSync(ReqSubject(testApp, "a", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := x.nc.Publish(ReqSubject(testApp, "a", "x"), []byte("intruder")); err != nil {
		t.Fatal(err)
	}
	x.waitErr(t, `Publish to "kervi.app.to.a.x.req"`)
	noMsg(t, subA, a.nc, x.nc)
}

func TestServerFromAnotherCAIsRefused(t *testing.T) {
	c := startCluster(t)
	other, err := nodes.OpenDir(t.TempDir(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = Dial(ctx, DialConfig{App: testApp, Node: "a", URLs: []string{c.url}, Seed: []byte(c.joins["a"].Seed), RootCAs: other.CAPool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) && (err == nil || !strings.Contains(err.Error(), "certificate")) {
		t.Fatalf("dial with another CA pinned: %v, want a certificate error", err)
	}
	t.Logf("refused: %v", err)
}

func TestListenBeyondLoopbackNeedsTLS(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	keys := []NodeKey{{Name: "main", PublicKey: pub}}
	for _, cfg := range []ServerConfig{
		{App: testApp, Listen: "0.0.0.0:0", Nodes: keys},
		{App: testApp, Listen: ":0", Nodes: keys},
		{App: testApp, Listen: "192.0.2.1:4222", Nodes: keys},
		{App: testApp, LeafListen: "0.0.0.0:0", Nodes: keys},
	} {
		s, err := StartServer(cfg)
		if err == nil {
			s.Shutdown()
			t.Errorf("listen %q, leaf %q without TLS: no error", cfg.Listen, cfg.LeafListen)
		} else if !strings.Contains(err.Error(), "TLS is required") {
			t.Errorf("listen %q, leaf %q: error %q does not say TLS is required", cfg.Listen, cfg.LeafListen, err)
		}
	}
	for _, cfg := range []ServerConfig{
		{App: "bad app", Nodes: keys},
		{App: testApp},
		{App: testApp, Nodes: []NodeKey{{Name: "main", PublicKey: "nope"}}},
		{App: testApp, Nodes: append(keys, keys...)},
	} {
		if s, err := StartServer(cfg); err == nil {
			s.Shutdown()
			t.Errorf("%+v: no error", cfg)
		}
	}
}

func TestPlainLoopbackServerAndLeafURL(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	cfg := ServerConfig{App: testApp, Listen: "127.0.0.1:0", LeafListen: "127.0.0.1:0", Nodes: []NodeKey{{Name: "main", PublicKey: pub}}}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if u := cfg.URL(s); !strings.HasPrefix(u, "nats://127.0.0.1:") {
		t.Errorf("URL %q", u)
	}
	if u := cfg.LeafURL(s); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Errorf("leaf URL %q", u)
	}
	if _, err := dialTest(t, DialConfig{App: testApp, Node: "main", URLs: []string{cfg.URL(s)}, Seed: seed}); err != nil {
		t.Fatal(err)
	}
}

func TestDialRefusesPlainTextBeyondLoopback(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	for _, u := range []string{"nats://192.0.2.1:4222", "tls://example.com:4222", "nats://[2001:db8::1]:4222"} {
		_, err := Dial(t.Context(), DialConfig{App: testApp, Node: "a", URLs: []string{u}, Seed: seed})
		if err == nil || !strings.Contains(err.Error(), "no CA is pinned") {
			t.Errorf("URL %s without a CA: %v", u, err)
		}
	}
	bad := []DialConfig{
		{App: testApp, Node: "a", URLs: []string{"nats://127.0.0.1:1"}},
		{App: testApp, Node: "a", URLs: []string{"http://127.0.0.1:1"}, Seed: seed},
		{App: testApp, Node: "a", Seed: seed},
		{App: testApp, Node: "a.b", URLs: []string{"nats://127.0.0.1:1"}, Seed: seed},
		{App: testApp, Node: "a", URLs: []string{"nats://127.0.0.1:1"}, Seed: seed, Creds: "x.creds"},
	}
	for _, cfg := range bad {
		if _, err := Dial(t.Context(), cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	akp, _ := nkeys.CreateAccount()
	aseed, _ := akp.Seed()
	if _, err := Dial(t.Context(), DialConfig{App: testApp, Node: "a", URLs: []string{"nats://127.0.0.1:1"}, Seed: aseed}); err == nil || !strings.Contains(err.Error(), "user seed") {
		t.Errorf("account seed: %v", err)
	}
}

func TestDialGivesUpWithTheContext(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	// Port 1 on loopback: connection refused, retried until ctx ends.
	_, err := Dial(ctx, DialConfig{App: testApp, Node: "a", URLs: []string{"nats://127.0.0.1:1"}, Seed: seed})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial of a closed port: %v, want the context's deadline", err)
	}
}

func TestPermissionsTable(t *testing.T) {
	p := Permissions("app", "n1")
	want := map[string][]string{
		"pub": {"kervi.app.ev.n1.>", "kervi.app.to.*.n1.*", "kervi.app.cat.n1", "kervi.app.hb.n1"},
		"sub": {"kervi.app.ev.>", "kervi.app.to.n1.>", "kervi.app.cat.*", "kervi.app.hb.*", "kervi.app.in.n1.>"},
	}
	if strings.Join(p.Publish.Allow, " ") != strings.Join(want["pub"], " ") || len(p.Publish.Deny) != 0 {
		t.Errorf("publish %v", p.Publish)
	}
	if strings.Join(p.Subscribe.Allow, " ") != strings.Join(want["sub"], " ") || len(p.Subscribe.Deny) != 0 {
		t.Errorf("subscribe %v", p.Subscribe)
	}
	if p.Response == nil || p.Response.MaxMsgs != 1 {
		t.Errorf("responses %+v, want one reply per request", p.Response)
	}
}

func TestEscapeID(t *testing.T) {
	for id, want := range map[string]string{
		"a":         "a",
		"a.b":       "a.b",
		"a..b":      "a.%.b",
		".a":        "%.a",
		"a.":        "a.%",
		"..":        "%.%.%",
		"":          "%",
		"dev:1/t-2": "dev:1/t-2",
	} {
		if got := EscapeID(id); got != want {
			t.Errorf("EscapeID(%q) = %q, want %q", id, got, want)
		}
		if back := UnescapeID(want); back != id {
			t.Errorf("UnescapeID(%q) = %q, want %q", want, back, id)
		}
	}
	if s := EventSubject("app", "n", "a..b"); s != "kervi.app.ev.n.a.%.b" {
		t.Errorf("EventSubject = %q", s)
	}
}

func FuzzEscapeID(f *testing.F) {
	for _, s := range []string{"", ".", "a..b", ".a.", "x:y/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if strings.Contains(id, "%") || strings.ContainsAny(id, " \t\r\n*>") {
			t.Skip("not a kervi id")
		}
		esc := EscapeID(id)
		for seg := range strings.SplitSeq(esc, ".") {
			if seg == "" {
				t.Fatalf("EscapeID(%q) = %q has an empty segment", id, esc)
			}
		}
		if back := UnescapeID(esc); back != id {
			t.Fatalf("UnescapeID(EscapeID(%q)) = %q", id, back)
		}
	})
}

func TestInProcessOnlyServer(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	cfg := ServerConfig{App: testApp, Nodes: []NodeKey{{Name: nodes.MainNode, PublicKey: pub}}}
	s, err := StartServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	if u := cfg.URL(s); u != "" {
		t.Errorf("URL of a server without listener: %q", u)
	}
	m, err := dialTest(t, DialConfig{App: testApp, Node: nodes.MainNode, Server: s, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.nc.Publish(HBSubject(testApp, nodes.MainNode), nil); err != nil {
		t.Fatal(err)
	}
	if err := m.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	o := m.nc.Opts
	if o.Name != "kervi/app/main" || o.MaxReconnect != -1 || o.ReconnectBufSize != -1 || !o.IgnoreDiscoveredServers ||
		!o.RetryOnFailedConnect || o.InboxPrefix != "kervi.app.in.main" || o.PingInterval != 100*time.Millisecond || o.MaxPingsOut != 3 {
		t.Errorf("connection options: name %q, max reconnect %d, reconnect buffer %d, ignore discovered %v, retry %v, inbox %q, ping %v/%d",
			o.Name, o.MaxReconnect, o.ReconnectBufSize, o.IgnoreDiscoveredServers, o.RetryOnFailedConnect, o.InboxPrefix, o.PingInterval, o.MaxPingsOut)
	}
	// Without PingInterval and MaxPingsOut: kervi's defaults, not nats.go's.
	nc, err := Dial(t.Context(), DialConfig{App: testApp, Node: nodes.MainNode, Server: s, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.Opts.PingInterval != DefaultPingInterval || nc.Opts.MaxPingsOut != DefaultMaxPingsOut {
		t.Errorf("default ping %v/%d", nc.Opts.PingInterval, nc.Opts.MaxPingsOut)
	}
}
