package natsnode

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
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
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: n.PublicKey, Permissions: Permissions(cfg.App, n.Name)})
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
	opts.Cluster.NoAdvertise = true
	return opts, nil
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
