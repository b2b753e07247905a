package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/kervi/kervi-go/ipc"
	"github.com/labstack/echo/v4"
)

const (
	// valuesBatch is the most values one "values" message carries.
	valuesBatch = 512
	// maxInFlight bounds the sets and calls of one client in flight;
	// more are answered with an error (503).
	maxInFlight = 16
	// hardReadLimit is what the connection refuses outright (and closes
	// on): a message this much larger than the MaxMessage option.
	hardReadLimit = 1 << 20
)

// StatusSessionExpired is the close code of a WebSocket whose session
// expired (reason "session expired") or ended by a logout ("session
// ended"): the browser shows the login form.
const StatusSessionExpired websocket.StatusCode = 4001

// client is one WebSocket connection. The bus's dispatch goroutine marks
// what changed in its pending sets (under the server's lock, then its own),
// which hold the latest event of each id: they are bounded by the number of
// ids. Its writer goroutine flushes them.
type client struct {
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1
	user   *user         // who the client acts for; nil without users
	// layoutSent is the layout last sent (its JSON); the writer's own.
	layoutSent []byte

	mu      sync.Mutex
	initial []ipc.Description           // the catalogue, sent first
	entries map[string]*ipc.Description // nil: retired
	order   []string                    // ids of entries, in order of change
	values  map[string]ipc.Event
	layout  bool // the catalogue changed: the layout may have

	results chan []byte
	sem     chan struct{}

	// With users: the client's session, and the ids of the entries it
	// was told about (under the server's lock), whose values only it is
	// sent.
	sess  *session
	known map[string]bool
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// entryChanged marks an entry as announced (d) or retired (nil).
func (c *client) entryChanged(id string, d *ipc.Description) {
	c.mu.Lock()
	if _, ok := c.entries[id]; !ok {
		c.order = append(c.order, id)
	}
	if d != nil {
		dd := d.Clone()
		d = &dd
	} else {
		delete(c.values, id)
	}
	c.entries[id] = d
	c.layout = true
	c.mu.Unlock()
	c.signal()
}

// layoutChanged marks the layout as possibly changed.
func (c *client) layoutChanged() {
	c.mu.Lock()
	c.layout = true
	c.mu.Unlock()
	c.signal()
}

func (c *client) valueChanged(ev ipc.Event) {
	c.mu.Lock()
	c.values[ev.ID] = ev
	c.mu.Unlock()
	c.signal()
}

// take returns and clears what is pending.
func (c *client) take() (initial []ipc.Description, order []string, entries map[string]*ipc.Description, values map[string]ipc.Event, layout bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	initial, order, entries, values, layout = c.initial, c.order, c.entries, c.values, c.layout
	c.initial, c.order, c.layout = nil, nil, false
	c.entries = make(map[string]*ipc.Description)
	c.values = make(map[string]ipc.Event)
	return
}

// Messages of the protocol (docs/protocol.md, "Dashboard WebSocket").
type (
	catalogueMsg struct {
		T       string            `json:"t"`
		Entries []ipc.Description `json:"entries"`
	}
	entryMsg struct {
		T     string          `json:"t"`
		Entry ipc.Description `json:"entry"`
	}
	retireMsg struct {
		T  string `json:"t"`
		ID string `json:"id"`
	}
	valuesMsg struct {
		T      string      `json:"t"`
		Values []valueJSON `json:"values"`
	}
	inMsg struct {
		T     string          `json:"t"`
		Ref   json.RawMessage `json:"ref"`
		ID    string          `json:"id"`
		Value any             `json:"value"`
		Args  []any           `json:"args"`
	}
	resultMsg struct {
		T      string          `json:"t"`
		Ref    json.RawMessage `json:"ref,omitempty"`
		Result json.RawMessage `json:"result,omitempty"`
		Error  string          `json:"error,omitempty"`
		Status int             `json:"status,omitempty"`
	}
)

// live serves GET /api/live.
func (s *Server) live(ec echo.Context) error {
	// guard checked the session, with users: it is refused (401) before
	// upgrading. Accept checks that the Origin, if any, is the request's
	// host (403).
	var sess *session
	if s.auth != nil {
		var ok bool
		if sess, ok = ec.Get(ctxSession).(*session); !ok {
			return loginRequired(ec)
		}
	}
	conn, err := websocket.Accept(ec.Response(), ec.Request(), nil)
	if err != nil {
		return nil // Accept wrote the response
	}
	conn.SetReadLimit(int64(s.opts.maxMessage) + hardReadLimit)
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		entries: make(map[string]*ipc.Description),
		values:  make(map[string]ipc.Event),
		results: make(chan []byte, maxInFlight),
		sem:     make(chan struct{}, maxInFlight),
	}
	if sess != nil {
		c.user, c.sess, c.known = sess.user, sess, make(map[string]bool)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusGoingAway, "dashboard stopping")
		return nil
	}
	c.initial = s.catalogueForLocked(c.user)
	c.layout = true
	if c.known != nil {
		for _, d := range c.initial {
			c.known[d.ID] = true
		}
	}
	for id, ev := range s.latest {
		if c.known == nil || c.known[id] {
			c.values[id] = ev
		}
	}
	s.clients[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	c.signal()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		cancel()
	}()

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.write(c, conn)
	}()
	s.read(c, conn)
	cancel()
	<-done
	conn.CloseNow()
	return nil
}

// write is a client's writer: it sends results and what is pending until
// the client ends or a write fails. It flushes at most once per flush
// interval; results go out meanwhile.
func (s *Server) write(c *client, conn *websocket.Conn) {
	defer c.cancel()
	var ended <-chan struct{} // the session's end: logout, eviction
	var expiry <-chan time.Time
	if c.sess != nil {
		ended = c.sess.done
		t := time.NewTimer(time.Until(c.sess.expires))
		defer t.Stop()
		expiry = t.C
	}
	hold := time.NewTimer(time.Hour)
	hold.Stop()
	var last time.Time // of the last flush
	held := false      // a flush waits for hold
	for {
		wake := c.wake
		if held {
			wake = nil // what is pending waits for hold
		}
		select {
		case <-c.ctx.Done():
			conn.Close(websocket.StatusGoingAway, "dashboard stopping")
			return
		case <-expiry:
			conn.Close(StatusSessionExpired, "session expired")
			return
		case <-ended:
			conn.Close(StatusSessionExpired, "session ended")
			return
		case b := <-c.results:
			if !s.send(c, conn, b) {
				return
			}
			continue
		case <-wake:
			if d := s.opts.flushEvery - time.Since(last); d > 0 {
				held = true
				hold.Reset(d)
				continue
			}
		case <-hold.C:
			held = false
		}
		last = time.Now()
		if !s.flush(c, conn) {
			return
		}
	}
}

// send writes one message within the write timeout; a client that does not
// take it in time is disconnected.
func (s *Server) send(c *client, conn *websocket.Conn, b []byte) bool {
	ctx, cancel := context.WithTimeout(c.ctx, s.opts.writeTimeout)
	defer cancel()
	err := conn.Write(ctx, websocket.MessageText, b)
	if err == nil {
		return true
	}
	// The write's own deadline, not the client's end (which a write that
	// timed out causes: it closes the connection, and the reader ends it).
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		s.dropped.Add(1)
		s.log.Warn("dashboard: WebSocket client stalled, disconnected", "timeout", s.opts.writeTimeout)
	}
	return false
}

func (s *Server) sendJSON(c *client, conn *websocket.Conn, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("dashboard: encoding a message", "err", err)
		return true
	}
	return s.send(c, conn, b)
}

// flush sends what is pending: the catalogue or entry changes first, so
// that an id's entry arrives before its values, then the layout if it
// changed, then the values in batches.
func (s *Server) flush(c *client, conn *websocket.Conn) bool {
	initial, order, entries, values, layout := c.take()
	if initial != nil && !s.sendJSON(c, conn, catalogueMsg{T: "catalogue", Entries: initial}) {
		return false
	}
	for _, id := range order {
		var ok bool
		if d := entries[id]; d != nil {
			ok = s.sendJSON(c, conn, entryMsg{T: "entry", Entry: *d})
		} else {
			ok = s.sendJSON(c, conn, retireMsg{T: "retire", ID: id})
		}
		if !ok {
			return false
		}
	}
	if layout {
		if b := s.layoutMessage(c); b != nil && !s.send(c, conn, b) {
			return false
		}
	}
	batch := make([]valueJSON, 0, min(len(values), valuesBatch))
	for _, ev := range values {
		batch = append(batch, toJSON(ev))
		if len(batch) == valuesBatch {
			if !s.sendJSON(c, conn, valuesMsg{T: "values", Values: batch}) {
				return false
			}
			batch = batch[:0]
		}
		// Results wait for no batch.
		select {
		case b := <-c.results:
			if !s.send(c, conn, b) {
				return false
			}
		default:
		}
	}
	if len(batch) > 0 {
		return s.sendJSON(c, conn, valuesMsg{T: "values", Values: batch})
	}
	return true
}

// read reads the client's messages until it closes or fails. A bad message
// is answered with an error result; the connection goes on.
func (s *Server) read(c *client, conn *websocket.Conn) {
	for {
		typ, r, err := conn.Reader(c.ctx)
		if err != nil {
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, int64(s.opts.maxMessage)+1))
		if err != nil {
			return
		}
		if len(b) > s.opts.maxMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return // beyond the hard limit: the connection is closed
			}
			s.reply(c, nil, nil, fmt.Errorf("%w: message larger than %d bytes", ErrBadRequest, s.opts.maxMessage))
			continue
		}
		if typ != websocket.MessageText {
			s.reply(c, nil, nil, fmt.Errorf("%w: want a text message", ErrBadRequest))
			continue
		}
		s.handle(c, b)
	}
}

// handle checks one message and runs it.
func (s *Server) handle(c *client, b []byte) {
	var m inMsg
	if err := json.Unmarshal(b, &m); err != nil {
		s.reply(c, nil, nil, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	if len(m.Ref) > 64 {
		s.reply(c, nil, nil, fmt.Errorf("%w: ref too long", ErrBadRequest))
		return
	}
	switch m.T {
	case "set", "call":
	default:
		s.reply(c, m.Ref, nil, fmt.Errorf("%w: unknown message type %q", ErrBadRequest, m.T))
		return
	}
	if err := ipc.ValidateID(m.ID); err != nil {
		s.reply(c, m.Ref, nil, err)
		return
	}
	if m.T == "set" && m.Value == nil {
		s.reply(c, m.Ref, nil, fmt.Errorf("%w: set needs a \"value\"", ErrBadRequest))
		return
	}
	if err := s.checkWrite(c.user, m.ID); err != nil {
		s.reply(c, m.Ref, nil, err)
		return
	}
	select {
	case c.sem <- struct{}{}:
	default:
		s.reply(c, m.Ref, nil, ipc.Errorf(ipc.CodeBusy, "%s: more than %d sets and calls in flight", m.ID, maxInFlight))
		return
	}
	s.wg.Add(1) // the connection's own count is held: Close cannot be past Wait
	go func() {
		defer s.wg.Done()
		defer func() { <-c.sem }()
		if m.T == "set" {
			s.reply(c, m.Ref, nil, s.set(c.ctx, m.ID, m.Value))
			return
		}
		res, err := s.call(c.ctx, m.ID, m.Args)
		s.reply(c, m.Ref, res, err)
	}()
}

// reply queues a result for the writer; it waits while the queue is full,
// which slows only this client's own input.
func (s *Server) reply(c *client, ref, res json.RawMessage, err error) {
	m := resultMsg{T: "result", Ref: ref, Result: res}
	if err != nil {
		m.Result = nil
		m.Error = err.Error()
		m.Status = status(err)
	} else if m.Result == nil {
		m.Result = json.RawMessage("null")
	}
	b, jerr := json.Marshal(m)
	if jerr != nil {
		b, _ = json.Marshal(resultMsg{T: "result", Error: "bad ref", Status: 400})
	}
	select {
	case c.results <- b:
	case <-c.ctx.Done():
	}
}
