package natsnode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kervi/kervi-go/nodes"
)

// Server settings.
const (
	// MaxPayload is the largest message the server accepts: room for the
	// largest message a hub accepts (ipc.DefaultMaxMessageSize, 4 MiB)
	// with its encoding.
	MaxPayload = 8 << 20
	// ServerPingInterval and ServerMaxPingsOut are how the server detects a
	// client gone silent: 3 unanswered pings 5 s apart.
	ServerPingInterval = 5 * time.Second
	ServerMaxPingsOut  = 3
	// writeDeadline bounds a write to one client, so a stalled node cannot
	// hold the server's buffers for long.
	writeDeadline = 5 * time.Second
	// readyTimeout bounds how long StartServer waits for the listeners.
	readyTimeout = 10 * time.Second
)

// NodeKey is a node allowed into the server, main included.
type NodeKey struct {
	// Name is the node's name.
	Name string
	// PublicKey is the node's public user NKEY ("U...").
	PublicKey string
	// Members, on main's server, are the nodes behind this node when it is
	// a site's leaf hub: its user gets the union of its own permissions and
	// theirs, since the members' traffic crosses the leaf connection.
	Members []string
}

// Remote makes a server a site's leaf: it dials main's leaf listener with
// a node's key and carries the site's traffic over that one connection.
type Remote struct {
	// URLs are main's leaf addresses, nats:// or tls://, tried in turn.
	URLs []string
	// Seed is the site hub node's NKEY user seed: the leaf authenticates
	// as that node (main gives it the node's and its members' permissions).
	Seed []byte
	// RootCAs pins main's CA. nil means no TLS: then every URL must be a
	// loopback address.
	RootCAs *x509.CertPool
}

// ServerConfig configures the NATS server of an application.
type ServerConfig struct {
	// App is the application's name.
	App string
	// Listen is the "host:port" where nodes connect; "" means no network
	// listener (in-process clients only); port 0 picks a free port.
	Listen string
	// LeafListen is the "host:port" where leaf nodes connect; "" means none;
	// port 0 picks a free port.
	LeafListen string
	// Nodes are every node allowed in, main included.
	Nodes []NodeKey
	// TLS is the server's TLS configuration. It is required when Listen or
	// LeafListen is not a loopback address.
	TLS *tls.Config
	// Remote, when set, makes this server a site's leaf of main's server.
	// Nodes then are the site's nodes (the hub node and its members), which
	// connect to this server instead of main's.
	Remote *Remote
	// PingInterval and MaxPingsOut set how the server detects a client,
	// or main's end of the leaf connection, gone silent; zero means
	// ServerPingInterval and ServerMaxPingsOut.
	PingInterval time.Duration
	MaxPingsOut  int
	// Logger receives the server's own log: notices and debug at debug
	// level, warnings at warn, errors at error. nil discards it.
	Logger *slog.Logger
}

// serverOptions checks cfg and turns it into the server's options.
func (cfg ServerConfig) serverOptions() (*server.Options, error) {
	if err := nodes.ValidName(cfg.App); err != nil {
		return nil, fmt.Errorf("NATS server: application: %w", err)
	}
	opts := &server.Options{
		ServerName:    "kervi-" + cfg.App,
		NoSigs:        true,
		MaxPayload:    MaxPayload,
		WriteDeadline: writeDeadline,
		PingInterval:  ServerPingInterval,
		MaxPingsOut:   ServerMaxPingsOut,
		// JetStream stays off (its zero value).
	}
	if cfg.PingInterval > 0 {
		opts.PingInterval = cfg.PingInterval
	}
	if cfg.MaxPingsOut > 0 {
		opts.MaxPingsOut = cfg.MaxPingsOut
	}
	seen := map[string]bool{}
	for _, n := range cfg.Nodes {
		if err := nodes.ValidName(n.Name); err != nil {
			return nil, fmt.Errorf("NATS server of %s: node: %w", cfg.App, err)
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("NATS server of %s: node %s is listed twice", cfg.App, n.Name)
		}
		seen[n.Name] = true
		if !nkeys.IsValidPublicUserKey(n.PublicKey) {
			return nil, fmt.Errorf("NATS server of %s: node %s: %q is not a public user NKEY", cfg.App, n.Name, n.PublicKey)
		}
		perms := Permissions(cfg.App, n.Name)
		if len(n.Members) > 0 {
			for _, m := range n.Members {
				if err := nodes.ValidName(m); err != nil {
					return nil, fmt.Errorf("NATS server of %s: node %s: member: %w", cfg.App, n.Name, err)
				}
				if m == n.Name {
					return nil, fmt.Errorf("NATS server of %s: node %s is listed as its own member", cfg.App, n.Name)
				}
			}
			perms = SitePermissions(cfg.App, n.Name, n.Members)
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: n.PublicKey, Permissions: perms})
	}
	if len(opts.Nkeys) == 0 {
		return nil, fmt.Errorf("NATS server of %s: no node allowed in", cfg.App)
	}
	if cfg.TLS != nil {
		opts.TLSConfig = cfg.TLS.Clone()
		if opts.TLSConfig.MinVersion < tls.VersionTLS12 {
			opts.TLSConfig.MinVersion = tls.VersionTLS12
		}
		opts.TLS = true
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := listenAddr("Listen", cfg.Listen, cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("NATS server of %s: %w", cfg.App, err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.LeafListen != "" {
		host, port, err := listenAddr("LeafListen", cfg.LeafListen, cfg.TLS)
		if err != nil {
			return nil, fmt.Errorf("NATS server of %s: %w", cfg.App, err)
		}
		// No leaf-specific users: the server authenticates a leaf remote
		// against the same NKEY users, so a leaf connects as a node.
		opts.LeafNode = server.LeafNodeOpts{Host: host, Port: port, NoAdvertise: true}
		if cfg.TLS != nil {
			opts.LeafNode.TLSConfig = opts.TLSConfig.Clone()
		}
	}
	if cfg.Remote != nil {
		remote, err := cfg.Remote.leafOpts()
		if err != nil {
			return nil, fmt.Errorf("NATS server of %s: %w", cfg.App, err)
		}
		opts.LeafNode.Remotes = []*server.RemoteLeafOpts{remote}
		opts.LeafNode.ReconnectInterval = leafReconnect
	}
	opts.Cluster.NoAdvertise = true
	return opts, nil
}

// leafReconnect is how soon a site's leaf dials main again after losing it.
const leafReconnect = 250 * time.Millisecond

// leafOpts checks r and turns it into the server's remote leaf options.
func (r *Remote) leafOpts() (*server.RemoteLeafOpts, error) {
	if len(r.URLs) == 0 {
		return nil, errors.New("leaf remote: no URL of main's leaf listener")
	}
	kp, err := nkeys.FromSeed(r.Seed)
	if err != nil {
		return nil, fmt.Errorf("leaf remote: seed: %w", err)
	}
	pub, err := kp.PublicKey()
	kp.Wipe()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return nil, errors.New("leaf remote: seed: not a user seed (SU...)")
	}
	ro := &server.RemoteLeafOpts{
		// Nkey is the seed: the server signs main's nonce with it.
		Nkey: string(r.Seed),
	}
	for _, s := range r.URLs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("leaf remote: URL %q: %w", s, err)
		}
		if u.Scheme != "nats" && u.Scheme != "tls" || u.Hostname() == "" {
			return nil, fmt.Errorf("leaf remote: URL %q: want nats://host:port or tls://host:port", s)
		}
		if r.RootCAs == nil && !nodes.IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("leaf remote: URL %q is not a loopback address: main's CA must be pinned (TLS)", s)
		}
		ro.URLs = append(ro.URLs, u)
	}
	if r.RootCAs != nil {
		ro.TLS = true
		ro.TLSConfig = &tls.Config{RootCAs: r.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return ro, nil
}

// SitePermissions returns the permissions, on main's server, of the leaf
// connection of site hub node hub with members: the union of their
// [Permissions], plus publishing to every node's reply inbox (P.in.>).
// That last one is needed because a server tells a leaf only of the
// interest the leaf may publish to: without it, the site never learns of
// a caller's inbox, and replies to calls into the site are dropped there
// (allow_responses, which a direct node gets, does not help). So a site
// hub is trusted with replies: main tells the leaf of every node's reply
// inbox subscriptions, so a compromised hub can answer any node's calls
// and control requests, the pages of another node's catalogue and main's
// clock included, though it can never publish an event, a catalogue change
// or a heartbeat of a node outside its site.
func SitePermissions(app, hub string, members []string) *server.Permissions {
	ps := []*server.Permissions{Permissions(app, hub)}
	for _, m := range members {
		ps = append(ps, Permissions(app, m))
	}
	p := MergePermissions(ps...)
	p.Publish.Allow = append(p.Publish.Allow, Prefix(app)+".in.>")
	return p
}

// MergePermissions returns the union of the permissions ps: every subject
// any of them allows to publish or to subscribe, and the most generous
// response permission.
func MergePermissions(ps ...*server.Permissions) *server.Permissions {
	out := &server.Permissions{Publish: &server.SubjectPermission{}, Subscribe: &server.SubjectPermission{}}
	add := func(dst *[]string, src []string) {
		for _, s := range src {
			if !slices.Contains(*dst, s) {
				*dst = append(*dst, s)
			}
		}
	}
	for _, p := range ps {
		if p == nil {
			continue
		}
		if p.Publish != nil {
			add(&out.Publish.Allow, p.Publish.Allow)
		}
		if p.Subscribe != nil {
			add(&out.Subscribe.Allow, p.Subscribe.Allow)
		}
		if r := p.Response; r != nil {
			if out.Response == nil {
				out.Response = &server.ResponsePermission{}
			}
			out.Response.MaxMsgs = max(out.Response.MaxMsgs, r.MaxMsgs)
			out.Response.Expires = max(out.Response.Expires, r.Expires)
		}
	}
	return out
}

// listenAddr splits a "host:port" listen address; port 0 becomes the
// server's "random port". A non-loopback host needs TLS.
func listenAddr(field, addr string, tlsConf *tls.Config) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", field, addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port %q", field, addr, ps)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if tlsConf == nil && !nodes.IsLoopback(host) {
		return "", 0, fmt.Errorf("%s %q is not a loopback address: TLS is required", field, addr)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// StartServer starts the application's NATS server and waits until it
// accepts connections. Each node is an NKEY user with [Permissions]; the
// server advertises no other URL, runs no JetStream, accepts messages up to
// [MaxPayload] and pings its clients every 5 s, 3 unanswered allowed. The
// leaf node listener, when asked for, accepts the same users. Stop it with
// Shutdown and WaitForShutdown.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	opts, err := cfg.serverOptions()
	if err != nil {
		return nil, err
	}
	return startServer(cfg, opts)
}

func startServer(cfg ServerConfig, opts *server.Options) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("NATS server of %s: %w", cfg.App, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("app", cfg.App)
	s.SetLoggerV2(slogAdapter{log}, log.Enabled(context.Background(), slog.LevelDebug), false, false)
	s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("NATS server of %s: not ready after %v (listen %q, leaf listen %q)",
			cfg.App, readyTimeout, cfg.Listen, cfg.LeafListen)
	}
	return s, nil
}

// URL returns the URL nodes dial to reach s, started from a: tls:// when a
// has TLS, nats:// otherwise. It is "" when s has no network listener.
func (a ServerConfig) URL(s *server.Server) string {
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok || addr == nil {
		return ""
	}
	ip := addr.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	scheme := "nats://"
	if a.TLS != nil {
		scheme = "tls://"
	}
	return scheme + net.JoinHostPort(ip.String(), strconv.Itoa(addr.Port))
}

// LeafURL returns the URL leaf nodes dial to reach s, started from a, or ""
// without a leaf listener.
func (a ServerConfig) LeafURL(s *server.Server) string {
	if a.LeafListen == "" {
		return ""
	}
	v, err := s.Varz(nil)
	if err != nil || v.LeafNode.Port <= 0 {
		return ""
	}
	host := v.LeafNode.Host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "nats://"
	if a.TLS != nil {
		scheme = "tls://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(v.LeafNode.Port))
}

// slogAdapter writes the server's log through a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

var _ server.Logger = slogAdapter{}

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
