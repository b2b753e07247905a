package dashboard

import (
	"fmt"
	"net"
	"time"

	"github.com/kervi/kervi-go/dashboard/history"
)

// DefaultAddr is where the dashboard listens by default: the loopback
// interface, on a port above 1024 that needs no root.
const DefaultAddr = "127.0.0.1:8765"

// Defaults of the options.
const (
	// DefaultCallTimeout bounds an action call or a set from the browser.
	DefaultCallTimeout = 10 * time.Second
	// DefaultWriteTimeout bounds how long a WebSocket client may take to
	// accept one message before it is disconnected.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultFlushInterval is the least time between two flushes of a
	// WebSocket client's changed values.
	DefaultFlushInterval = 20 * time.Millisecond
	// DefaultMaxMessage bounds a message from the browser (a WebSocket
	// message or a POST body), in bytes.
	DefaultMaxMessage = 64 << 10
)

// Option configures a Server (New) or the dashboard module (Module).
type Option func(*options) error

type options struct {
	addr         string
	history      []history.Option
	callTimeout  time.Duration
	writeTimeout time.Duration
	flushEvery   time.Duration
	maxMessage   int

	users           []User
	sessionLifetime time.Duration
	maxSessions     int
	loginAttempts   int
	loginWindow     time.Duration
	certFile        string
	keyFile         string
}

func defaultOptions() options {
	return options{
		addr:         DefaultAddr,
		callTimeout:  DefaultCallTimeout,
		writeTimeout: DefaultWriteTimeout,
		flushEvery:   DefaultFlushInterval,
		maxMessage:   DefaultMaxMessage,

		sessionLifetime: DefaultSessionLifetime,
		maxSessions:     DefaultMaxSessions,
		loginAttempts:   DefaultLoginAttempts,
		loginWindow:     DefaultLoginWindow,
	}
}

// Addr sets the address the dashboard module listens on, "host:port".
// Defaults to DefaultAddr (127.0.0.1:8765). An address beyond loopback is
// allowed; without users (option Users) the module warns loudly at start
// that anyone who reaches it can read every value, set inputs and call
// actions, and with users but without TLS that passwords and session
// cookies cross the network in clear. New ignores it (the program that
// mounts the Server listens).
func Addr(addr string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%w: Addr(%q): %v", ErrInvalidOption, addr, err)
		}
		o.addr = addr
		return nil
	}
}

// History configures the in-memory history of number values (see
// history.NewMemory). Defaults to history's defaults.
func History(opts ...history.Option) Option {
	return func(o *options) error {
		o.history = append(o.history, opts...)
		return nil
	}
}

// CallTimeout bounds each action call and each set made for a browser, by
// the REST API or the WebSocket. Defaults to DefaultCallTimeout (10 s).
func CallTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: CallTimeout(%v) must be positive", ErrInvalidOption, d)
		}
		o.callTimeout = d
		return nil
	}
}

// WriteTimeout bounds how long a WebSocket client may take to accept one
// message; a client that stalls longer is disconnected. Defaults to
// DefaultWriteTimeout (10 s).
func WriteTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WriteTimeout(%v) must be positive", ErrInvalidOption, d)
		}
		o.writeTimeout = d
		return nil
	}
}

// MaxMessage bounds a message from the browser, a WebSocket message or a
// POST body, in bytes; a larger one is answered with an error. Defaults to
// DefaultMaxMessage (64 KiB).
func MaxMessage(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: MaxMessage(%d) must be positive", ErrInvalidOption, n)
		}
		o.maxMessage = n
		return nil
	}
}

// FlushInterval sets the least time between two "values" messages to one
// WebSocket client: the values that change meanwhile wait, coalesced to the
// latest of each, and go in one message. This bounds the messages a client
// gets (50 a second at the default) however fast values change, which saves
// the server a JSON encoding, a write and a wake-up of the client's writer
// per value; a value waits at most d more. Results of sets and calls are
// not held. 0 sends each change as soon as the client's writer runs.
// Defaults to DefaultFlushInterval (20 ms).
func FlushInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: FlushInterval(%v) must not be negative", ErrInvalidOption, d)
		}
		o.flushEvery = d
		return nil
	}
}
