package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// maxSessionsPerUser bounds the sessions of one user: a new one beyond
// it ends that user's oldest.
const maxSessionsPerUser = 32

// session is a logged-in browser. Its done channel is closed when it ends
// (logout, expiry seen by the store, or evicted), which closes its
// WebSockets.
type session struct {
	user    *user
	expires time.Time
	done    chan struct{}
}

// sessionStore holds the sessions, keyed by the SHA-256 of their token (a
// token is never kept: a lookup hashes what the browser sent). It holds
// at most max sessions; a new one beyond that ends the one that expires
// first.
type sessionStore struct {
	now      func() time.Time
	lifetime time.Duration
	max      int

	mu   sync.Mutex
	byID map[[32]byte]*session
}

func newSessionStore(lifetime time.Duration, max int, now func() time.Time) *sessionStore {
	return &sessionStore{now: now, lifetime: lifetime, max: max, byID: make(map[[32]byte]*session)}
}

// newToken returns a random 256-bit token, base64url without padding.
func newToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// create starts a session for u and returns its token and the session.
func (st *sessionStore) create(u *user) (string, *session) {
	token := newToken()
	now := st.now()
	s := &session{user: u, expires: now.Add(st.lifetime), done: make(chan struct{})}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.purgeLocked(now)
	var oldest [32]byte
	var oldestS *session
	n := 0
	for k, o := range st.byID {
		if o.user.name == u.name {
			n++
			if oldestS == nil || o.expires.Before(oldestS.expires) {
				oldest, oldestS = k, o
			}
		}
	}
	if n >= maxSessionsPerUser {
		st.endLocked(oldest)
	}
	if len(st.byID) >= st.max {
		oldestS = nil
		for k, o := range st.byID {
			if oldestS == nil || o.expires.Before(oldestS.expires) {
				oldest, oldestS = k, o
			}
		}
		st.endLocked(oldest)
	}
	st.byID[tokenKey(token)] = s
	return token, s
}

// get returns the session of token, if it is valid.
func (st *sessionStore) get(token string) (*session, bool) {
	if token == "" {
		return nil, false
	}
	k := tokenKey(token)
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.byID[k]
	if !ok {
		return nil, false
	}
	if !st.now().Before(s.expires) {
		st.endLocked(k)
		return nil, false
	}
	return s, true
}

// end ends the session of token, if any.
func (st *sessionStore) end(token string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.endLocked(tokenKey(token))
}

// len returns the number of sessions held, expired or not.
func (st *sessionStore) len() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.byID)
}

func (st *sessionStore) endLocked(k [32]byte) {
	if s, ok := st.byID[k]; ok {
		delete(st.byID, k)
		close(s.done)
	}
}

func (st *sessionStore) purgeLocked(now time.Time) {
	for k, s := range st.byID {
		if !now.Before(s.expires) {
			st.endLocked(k)
		}
	}
}

// maxLimiterKeys bounds the keys a limiter tracks.
const maxLimiterKeys = 10000

// limiter counts login attempts per key (a client address, a user name) in
// fixed windows: at most n attempts per window.
type limiter struct {
	now    func() time.Time
	n      int
	window time.Duration

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start time.Time
	count int
}

func newLimiter(n int, w time.Duration, now func() time.Time) *limiter {
	return &limiter{now: now, n: n, window: w, keys: make(map[string]*window)}
}

// allow counts an attempt for key and reports whether it is allowed;
// if not, how long until the next one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys[key]
	if ok && !now.Before(w.start.Add(l.window)) {
		ok = false
	}
	if !ok {
		if _, held := l.keys[key]; !held && len(l.keys) >= maxLimiterKeys {
			l.makeRoomLocked(now)
		}
		w = &window{start: now}
		l.keys[key] = w
	}
	if w.count >= l.n {
		return false, w.start.Add(l.window).Sub(now)
	}
	w.count++
	return true, 0
}

// reset forgets key's attempts (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

// makeRoomLocked drops the windows that are over; if none is, the oldest.
func (l *limiter) makeRoomLocked(now time.Time) {
	var oldest string
	var oldestW *window
	for k, w := range l.keys {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.keys, k)
			continue
		}
		if oldestW == nil || w.start.Before(oldestW.start) {
			oldest, oldestW = k, w
		}
	}
	if len(l.keys) >= maxLimiterKeys && oldestW != nil {
		delete(l.keys, oldest)
	}
}
