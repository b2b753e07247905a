package dashboard

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/ipc"
)

// ModuleName is the name of the dashboard module.
const ModuleName = "dashboard"

// Module returns the dashboard module: add it to an application's modules,
// and the dashboard's server runs in a process of its own, supervised like
// any module (a crash in it never touches the sensors; it is restarted).
// Its setup makes a Server (New) on the module's bus and listens on Addr
// (default DefaultAddr), logging the URL to open; a listen that fails (the
// port is taken) fails the setup. An address beyond loopback is logged as
// a warning when the dashboard has no users (anyone who reaches it may do
// anything), or users but no TLS (their passwords cross the network in
// clear). The server stops with the module.
func Module(opts ...Option) kervi.Module {
	return kervi.Module{Name: ModuleName, Setup: func(ctx context.Context, bus *ipc.Bus) error {
		return setup(bus, opts)
	}}
}

func setup(bus *ipc.Bus, opts []Option) error {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return err
		}
	}
	s, err := New(bus, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("kervi: dashboard: %w", err)
	}
	tlsOn := o.certFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			ln.Close()
			s.Close()
			return fmt.Errorf("kervi: dashboard: TLS(%q, %q): %w", o.certFile, o.keyFile, err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	url := openURL(ln.Addr(), tlsOn)
	if msg := exposureWarning(ln.Addr(), len(o.users) > 0, tlsOn); msg != "" {
		bus.Logger().Warn(msg, "addr", ln.Addr().String())
	}
	bus.Logger().Info("dashboard: open "+url, "url", url)
	srv := &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return bus.Context() },
		ReadHeaderTimeout: 10 * time.Second,
	}
	bus.Go(func(ctx context.Context) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			bus.Logger().Error("dashboard: server", "err", err)
		}
	})
	bus.OnStop(func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		s.Close()
		return err
	})
	return nil
}

// openURL returns the URL to open for a listener on a: on the loopback
// address when a is the unspecified one ("0.0.0.0", "::").
func openURL(a net.Addr, tlsOn bool) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http://"
	if tlsOn {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port) + "/"
}

// exposureWarning returns the warning to log for a dashboard listening on
// a: none on loopback, nor beyond it with users over TLS.
func exposureWarning(a net.Addr, users, tlsOn bool) string {
	switch {
	case isLoopback(a):
		return ""
	case !users:
		return "dashboard: WARNING: listening on " + a.String() + " beyond loopback WITH NO USERS: " +
			"anyone who can reach this address can read every value, set inputs and call actions; " +
			"configure users (dashboard.Users) or listen on 127.0.0.1"
	case !tlsOn:
		return "dashboard: WARNING: listening on " + a.String() + " beyond loopback over plain HTTP: " +
			"passwords and session cookies cross the network in clear; " +
			"serve HTTPS (dashboard.TLS) or put a TLS proxy in front"
	}
	return ""
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
