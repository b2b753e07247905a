package dashboard

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

// Defaults of the options for users.
const (
	// DefaultSessionLifetime is how long a session lasts after its
	// login: a fixed lifetime, not extended by use.
	DefaultSessionLifetime = 12 * time.Hour
	// DefaultMaxSessions bounds the sessions the server holds.
	DefaultMaxSessions = 1000
	// DefaultLoginAttempts and DefaultLoginWindow: at most 5 login
	// attempts per 30 s from one client address, and as many for one user
	// name.
	DefaultLoginAttempts = 5
	DefaultLoginWindow   = 30 * time.Second
)

// SessionCookie is the name of the session cookie.
const SessionCookie = "kervi_session"

// ErrForbidden: the user may not read or write a component, or a request
// came from another origin. Served as 403.
var ErrForbidden = errors.New("kervi: dashboard: forbidden")

// User is a user of the dashboard (option Users).
type User struct {
	// Name is what the user types to log in; not empty.
	Name string
	// PasswordHash is the bcrypt hash of the user's password, as
	// HashPassword returns it ("$2a$..."); never the password itself.
	PasswordHash string
	// Groups are the groups the user belongs to; the Read and Write
	// groups of the layout (package layout, "Access by group") let or
	// refuse them.
	Groups []string
}

// user is a User as the server checks it.
type user struct {
	name   string
	groups []string
	hash   []byte
}

// inAny reports whether u is in one of groups; true if groups is empty.
func (u *user) inAny(groups []string) bool {
	if len(groups) == 0 {
		return true
	}
	for _, g := range groups {
		for _, ug := range u.groups {
			if g == ug {
				return true
			}
		}
	}
	return false
}

// HashPassword returns the bcrypt hash of password, at bcrypt's default
// cost, for User.PasswordHash. It fails for an empty password and for one
// longer than 72 bytes (bcrypt's limit). For a one-off hash from a shell:
//
//	go run github.com/kervi/kervi-go/dashboard/cmd/kervi-passwd
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", fmt.Errorf("kervi: dashboard: HashPassword: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("kervi: dashboard: HashPassword: %w", err)
	}
	return string(h), nil
}

// Users turns on users: with at least one user, every request of the API
// and the WebSocket needs a session, made by logging in (POST /api/login),
// and the Read and Write groups of the layout limit what each user may
// read and write (package layout, "Access by group"). Without this option
// the dashboard is open to whoever reaches it. Users may be given several
// times; it fails (ErrInvalidOption, naming the user) for a user without a
// name, a user given twice, a PasswordHash that is not a bcrypt hash, or an
// empty group.
func Users(users ...User) Option {
	return func(o *options) error {
		if len(users) == 0 {
			return fmt.Errorf("%w: Users: no user given", ErrInvalidOption)
		}
		for i, u := range users {
			if u.Name == "" {
				return fmt.Errorf("%w: Users: user %d has no name", ErrInvalidOption, i)
			}
			if strings.TrimSpace(u.Name) != u.Name {
				return fmt.Errorf("%w: Users: user %q: name begins or ends with a space", ErrInvalidOption, u.Name)
			}
			for _, prev := range o.users {
				if prev.Name == u.Name {
					return fmt.Errorf("%w: Users: user %q given twice", ErrInvalidOption, u.Name)
				}
			}
			if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
				return fmt.Errorf("%w: Users: user %q: PasswordHash is not a bcrypt hash (make one with HashPassword): %v", ErrInvalidOption, u.Name, err)
			}
			for _, g := range u.Groups {
				if g == "" {
					return fmt.Errorf("%w: Users: user %q: empty group name", ErrInvalidOption, u.Name)
				}
			}
			u.Groups = append([]string(nil), u.Groups...)
			o.users = append(o.users, u)
		}
		return nil
	}
}

// SessionLifetime sets how long a session lasts after its login. The
// lifetime is fixed (absolute), not extended by use: at its end the API
// answers 401 and an open WebSocket is closed with code 4001, and the user
// logs in again. Defaults to DefaultSessionLifetime (12 h).
func SessionLifetime(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: SessionLifetime(%v) must be positive", ErrInvalidOption, d)
		}
		o.sessionLifetime = d
		return nil
	}
}

// MaxSessions bounds the sessions the server holds; a login beyond it ends
// the session that would expire first. One user holds at most 32 sessions
// (a 33rd login ends the user's oldest). Defaults to DefaultMaxSessions.
func MaxSessions(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: MaxSessions(%d) must be positive", ErrInvalidOption, n)
		}
		o.maxSessions = n
		return nil
	}
}

// LoginRateLimit allows at most attempts logins per window from one client
// address (the connection's remote address; X-Forwarded-For is not
// trusted), and as many for one user name (all unknown names count as
// one); a login beyond either is answered 429 with Retry-After. A
// successful login clears the counts of its address and user. Defaults to
// DefaultLoginAttempts per DefaultLoginWindow (5 per 30 s).
func LoginRateLimit(attempts int, window time.Duration) Option {
	return func(o *options) error {
		if attempts < 1 || window <= 0 {
			return fmt.Errorf("%w: LoginRateLimit(%d, %v): want a positive count and window", ErrInvalidOption, attempts, window)
		}
		o.loginAttempts, o.loginWindow = attempts, window
		return nil
	}
}

// TLS makes the dashboard module serve HTTPS with the certificate and key
// of these PEM files (as http.Server.ServeTLS reads them); the session
// cookie is then marked Secure. New ignores it (the program that mounts
// the Server listens).
func TLS(certFile, keyFile string) Option {
	return func(o *options) error {
		if certFile == "" || keyFile == "" {
			return fmt.Errorf("%w: TLS(%q, %q): want a certificate and a key file", ErrInvalidOption, certFile, keyFile)
		}
		o.certFile, o.keyFile = certFile, keyFile
		return nil
	}
}

// auth is the state of the users and sessions of a Server with users.
type auth struct {
	users    map[string]*user
	dummy    []byte // compared for an unknown user, so that it takes as long as a known one
	sessions *sessionStore
	byAddr   *limiter
	byName   *limiter
	// hashing bounds the password checks in flight (bcrypt is slow on
	// purpose: many at once would take every CPU).
	hashing chan struct{}
}

// newAuth returns the auth of the users of o; nil without users.
func newAuth(o options, now func() time.Time) *auth {
	if len(o.users) == 0 {
		return nil
	}
	a := &auth{
		users:    make(map[string]*user, len(o.users)),
		sessions: newSessionStore(o.sessionLifetime, o.maxSessions, now),
		byAddr:   newLimiter(o.loginAttempts, o.loginWindow, now),
		byName:   newLimiter(o.loginAttempts, o.loginWindow, now),
		hashing:  make(chan struct{}, max(runtime.NumCPU()/2, 1)),
	}
	// An unknown user's password is checked against the hash of the
	// user of the highest cost, its result ignored: it takes as long as a
	// known user's.
	cost := -1
	for _, u := range o.users {
		a.users[u.Name] = &user{name: u.Name, groups: u.Groups, hash: []byte(u.PasswordHash)}
		if c, err := bcrypt.Cost([]byte(u.PasswordHash)); err == nil && c > cost {
			cost, a.dummy = c, []byte(u.PasswordHash)
		}
	}
	return a
}

// Keys of echo.Context.
const ctxSession = "kervi.session"

type loginBody struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

type sessionJSON struct {
	Auth   bool     `json:"auth"`
	User   string   `json:"user"`
	Groups []string `json:"groups"`
}

type noUsersJSON struct {
	Auth bool `json:"auth"`
}

type loginRequiredJSON struct {
	Error string `json:"error"`
	Login bool   `json:"login"`
}

func loginRequired(c echo.Context) error {
	return c.JSON(http.StatusUnauthorized, loginRequiredJSON{Error: "login required", Login: true})
}

func userJSON(u *user) sessionJSON {
	g := u.groups
	if g == nil {
		g = []string{}
	}
	return sessionJSON{Auth: true, User: u.name, Groups: g}
}

// public are the routes of the API served without a session.
var public = map[string]bool{"/api/session": true, "/api/login": true, "/api/logout": true}

// guard checks every request: a POST with an Origin header must come from
// the request's host (403 otherwise), and, with users, a request of the API
// needs a valid session (401 otherwise), which it stores in the context.
func (s *Server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
			if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
				return fmt.Errorf("%w: origin %q is not %q", ErrForbidden, o, r.Host)
			}
		}
		if s.auth == nil {
			return next(c)
		}
		api := strings.HasPrefix(c.Path(), "/api") || strings.HasPrefix(r.URL.Path, "/api")
		if !api || public[c.Path()] {
			return next(c)
		}
		sess := s.sessionOf(r)
		if sess == nil {
			return loginRequired(c)
		}
		c.Set(ctxSession, sess)
		return next(c)
	}
}

// sameOrigin reports whether the Origin header origin names host.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// sessionOf returns the valid session of r's cookie, if any.
func (s *Server) sessionOf(r *http.Request) *session {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	sess, ok := s.auth.sessions.get(ck.Value)
	if !ok {
		return nil
	}
	return sess
}

// userOf returns the user of a request checked by guard; nil without
// users.
func userOf(c echo.Context) *user {
	if sess, ok := c.Get(ctxSession).(*session); ok {
		return sess.user
	}
	return nil
}

func (s *Server) getSession(c echo.Context) error {
	if s.auth == nil {
		return c.JSON(http.StatusOK, noUsersJSON{Auth: false})
	}
	sess := s.sessionOf(c.Request())
	if sess == nil {
		return loginRequired(c)
	}
	return c.JSON(http.StatusOK, userJSON(sess.user))
}

// clientAddr is the address a login is counted against.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) login(c echo.Context) error {
	if s.auth == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no users are configured: there is nothing to log in to")
	}
	var b loginBody
	if err := s.readBody(c, &b); err != nil {
		return err
	}
	r := c.Request()
	addr := clientAddr(r)
	u, known := s.auth.users[b.User]
	nameKey := "?" // every unknown name counts as one
	if known {
		nameKey = "user:" + u.name
	}
	okAddr, waitAddr := s.auth.byAddr.allow(addr)
	okName, waitName := s.auth.byName.allow(nameKey)
	if !okAddr || !okName {
		secs := int(math.Ceil(max(waitAddr, waitName).Seconds()))
		secs = max(secs, 1)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		s.log.Warn("dashboard: login refused: too many attempts", "addr", addr, "user", b.User)
		return c.JSON(http.StatusTooManyRequests, errorJSON{Error: fmt.Sprintf("too many login attempts; try again in %d s", secs)})
	}
	hash := s.auth.dummy
	if known {
		hash = u.hash
	}
	select {
	case s.auth.hashing <- struct{}{}:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(b.Password))
	<-s.auth.hashing
	if !known || err != nil {
		s.log.Info("dashboard: login refused: wrong user or password", "addr", addr, "user", b.User)
		return c.JSON(http.StatusUnauthorized, errorJSON{Error: "wrong user or password"})
	}
	s.auth.byAddr.reset(addr)
	s.auth.byName.reset(nameKey)
	token, _ := s.auth.sessions.create(u)
	http.SetCookie(c.Response(), &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   int(math.Ceil(s.opts.sessionLifetime.Seconds())),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("dashboard: login", "user", u.name, "addr", addr)
	return c.JSON(http.StatusOK, userJSON(u))
}

func (s *Server) logout(c echo.Context) error {
	r := c.Request()
	if ck, err := r.Cookie(SessionCookie); err == nil && s.auth != nil {
		s.auth.sessions.end(ck.Value)
	}
	http.SetCookie(c.Response(), &http.Cookie{
		Name:     SessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return c.NoContent(http.StatusNoContent)
}
