package natsnode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kervi/kervi-go/nodes"
)

// Client defaults: a silent drop is noticed after about 3 unanswered pings
// 5 s apart, instead of nats.go's 2 minutes.
const (
	DefaultPingInterval = 5 * time.Second
	DefaultMaxPingsOut  = 3
)

// DialConfig configures a node's connection to the application's server.
type DialConfig struct {
	// App and Node name the application and this node.
	App, Node string
	// URLs are the server's addresses, nats:// or tls://.
	URLs []string
	// Server, when set, is dialed in-process instead of through URLs.
	Server *server.Server
	// Seed is the node's NKEY user seed.
	Seed []byte
	// RootCAs pins the server's CA. nil means no TLS: then every URL must
	// be a loopback address, unless Creds is set and the URLs are tls://,
	// verified against the system's roots (an external NATS).
	RootCAs *x509.CertPool
	// Creds is a .creds file for an external NATS in operator mode, as an
	// alternative to Seed.
	Creds string
	// PingInterval and MaxPingsOut set how a silent drop is detected;
	// zero means DefaultPingInterval and DefaultMaxPingsOut.
	PingInterval time.Duration
	MaxPingsOut  int
	// OnDisconnect is called when the connection is lost, with the cause
	// (possibly nil). It may be nil.
	OnDisconnect func(error)
	// OnReconnect is called when the connection is back. It may be nil.
	OnReconnect func()
	// KeepTrying makes Dial return the connection, still trying in the
	// background, with an error matching ErrNotConnected, when ctx ends
	// before the first connection: a node runs its own modules while the
	// main node is away.
	KeepTrying bool
	// OnError is called with asynchronous errors, such as a permission
	// violation or a slow consumer. It may be nil.
	OnError func(error)
}

// ErrNotConnected is returned, with the connection, by Dial with
// KeepTrying when the first connection did not come in time.
var ErrNotConnected = errors.New("not connected yet")

// Dial connects node cfg.Node to the application's server with kervi's
// settings: NKEY (or .creds) authentication, TLS pinned to cfg.RootCAs,
// pings every cfg.PingInterval, reconnection forever, no reconnect buffer
// (a publish while disconnected fails instead of going out stale later), no
// discovered server URLs (so a proxy in between is never bypassed), the
// reply inbox [InboxPrefix] and the name "kervi/<app>/<node>".
//
// Dial waits for the first connection until ctx ends; once connected, the
// connection keeps reconnecting in the background. An authorization error
// ends the wait at once.
func Dial(ctx context.Context, cfg DialConfig) (*nats.Conn, error) {
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	var returned atomic.Bool // Dial returned without a connection
	var (
		mu        sync.Mutex
		lastErr   error
		connected = make(chan struct{})
		closed    = make(chan struct{})
		refused   = make(chan struct{})
		once      sync.Once
		onceAuth  sync.Once
	)
	setErr := func(err error) {
		if err == nil {
			return
		}
		mu.Lock()
		lastErr = err
		mu.Unlock()
		if IsAuthError(err) {
			onceAuth.Do(func() { close(refused) })
		}
	}
	opts = append(opts,
		nats.ConnectHandler(func(*nats.Conn) {
			once.Do(func() { close(connected) })
			// A first connection after Dial gave up waiting (KeepTrying)
			// is a link that came back.
			if returned.Load() && cfg.OnReconnect != nil {
				cfg.OnReconnect()
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { setErr(err) }),
	)
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("node %s of %s: connecting to %s: %w", cfg.Node, cfg.App, cfg.where(), err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	select {
	case <-connected:
		return nc, nil
	case <-closed:
		err = nc.LastError()
	case <-refused:
		nc.Close()
		mu.Lock()
		err = lastErr
		mu.Unlock()
	case <-ctx.Done():
		if cfg.KeepTrying {
			returned.Store(true)
			mu.Lock()
			err = lastErr
			mu.Unlock()
			if err == nil {
				err = ctx.Err()
			}
			return nc, fmt.Errorf("node %s of %s: not connected to %s yet, still trying: %w (%w)", cfg.Node, cfg.App, cfg.where(), ErrNotConnected, err)
		}
		nc.Close()
		mu.Lock()
		err = lastErr
		mu.Unlock()
		if last := nc.LastError(); last != nil {
			err = last
		}
		if err == nil {
			err = ctx.Err()
		} else {
			err = fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		}
	}
	if err == nil {
		err = nats.ErrConnectionClosed
	}
	return nil, fmt.Errorf("node %s of %s: connecting to %s: %w", cfg.Node, cfg.App, cfg.where(), err)
}

func (cfg *DialConfig) where() string {
	if cfg.Server != nil {
		return "the in-process server"
	}
	return strings.Join(cfg.URLs, ", ")
}

// options checks cfg and returns the nats.go options it means, handlers
// for the first connection aside.
func (cfg *DialConfig) options() ([]nats.Option, error) {
	fail := func(format string, a ...any) ([]nats.Option, error) {
		return nil, fmt.Errorf("node %s of %s: %s", cfg.Node, cfg.App, fmt.Sprintf(format, a...))
	}
	if err := nodes.ValidName(cfg.App); err != nil {
		return fail("application: %v", err)
	}
	if err := nodes.ValidName(cfg.Node); err != nil {
		return fail("node: %v", err)
	}
	ping, pings := cfg.PingInterval, cfg.MaxPingsOut
	if ping <= 0 {
		ping = DefaultPingInterval
	}
	if pings <= 0 {
		pings = DefaultMaxPingsOut
	}
	opts := []nats.Option{
		nats.Name("kervi/" + cfg.App + "/" + cfg.Node),
		nats.PingInterval(ping),
		nats.MaxPingsOutstanding(pings),
		nats.MaxReconnects(-1),
		// Back within half a second of the server (nats.go waits 2 s, plus
		// up to 1 s over TLS).
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, 100*time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.IgnoreDiscoveredServers(),
		nats.RetryOnFailedConnect(true),
		nats.CustomInboxPrefix(InboxPrefix(cfg.App, cfg.Node)),
	}
	switch {
	case len(cfg.Seed) > 0 && cfg.Creds != "":
		return fail("both a seed and a .creds file: give one")
	case len(cfg.Seed) > 0:
		kp, err := nkeys.FromSeed(cfg.Seed)
		if err != nil {
			return fail("seed: %v", err)
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return fail("seed: %v", err)
		}
		if !nkeys.IsValidPublicUserKey(pub) {
			return fail("seed is not a user seed (SU...)")
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	default:
		return fail("no seed and no .creds file")
	}
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server))
	} else {
		if len(cfg.URLs) == 0 {
			return fail("no URL and no in-process server")
		}
		for _, u := range cfg.URLs {
			p, err := url.Parse(u)
			if err != nil {
				return fail("URL %q: %v", u, err)
			}
			if p.Scheme != "nats" && p.Scheme != "tls" {
				return fail("URL %q: scheme %q, want nats:// or tls://", u, p.Scheme)
			}
			if cfg.RootCAs == nil && !nodes.IsLoopback(p.Hostname()) && (cfg.Creds == "" || p.Scheme != "tls") {
				return fail("URL %q is not a loopback address and no CA is pinned: refusing to talk to it without TLS", u)
			}
		}
	}
	if cfg.RootCAs != nil {
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}))
	}
	if f := cfg.OnDisconnect; f != nil {
		opts = append(opts, nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { f(err) }))
	}
	if f := cfg.OnReconnect; f != nil {
		opts = append(opts, nats.ReconnectHandler(func(*nats.Conn) { f() }))
	}
	if f := cfg.OnError; f != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				err = fmt.Errorf("subscription %s: %w", sub.Subject, err)
			}
			f(err)
		}))
	}
	return opts, nil
}

// IsAuthError reports whether err is NATS refusing the node's credentials.
func IsAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}
