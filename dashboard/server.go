package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/dashboard/history"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/labstack/echo/v4"
)

// MaxHistoryPoints is the most points a history request may ask for.
const MaxHistoryPoints = 2000

// defaultHistoryPoints is what a history request without points gets.
const defaultHistoryPoints = 1000

var (
	// ErrInvalidOption: an option of New or Module is out of range.
	ErrInvalidOption = errors.New("kervi: dashboard: invalid option")
	// ErrBadRequest: a request from a browser is malformed (a query
	// parameter, a body or a WebSocket message). Served as 400.
	ErrBadRequest = errors.New("kervi: dashboard: bad request")
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("kervi: dashboard: server closed")
)

// Server is the dashboard's server: it follows the application on a bus
// (the catalogue and the latest event of every value), keeps the history of
// number values, and serves them over HTTP (the REST API and the WebSocket
// /api/live; see docs/protocol.md). It is an http.Handler, to be mounted in a
// program's own router, or served by the dashboard module (Module). With
// users (option Users), it serves each user, after a login, only what the
// user may read, and takes only the writes the user may make.
// Its methods are safe for concurrent use.
type Server struct {
	bus  *ipc.Bus
	opts options
	log  *slog.Logger
	hist *history.Memory
	e    *echo.Echo

	mu      sync.Mutex
	entries map[string]ipc.Description
	latest  map[string]ipc.Event
	clients map[*client]struct{}
	closed  bool
	// catVersion counts the catalogue's changes, for the layout (view).
	catVersion uint64
	view       views

	// With users (auth not nil): the placements of the entries, and who
	// may read and write each (rules, under amu, which is taken after mu
	// when both are).
	auth       *auth
	placements map[string][]layout.Placement
	specs      specs
	amu        sync.RWMutex
	rules      map[string]*rule

	subs       []*ipc.Subscription
	wg         sync.WaitGroup // WebSocket connections
	outOfOrder atomic.Uint64
	dropped    atomic.Uint64 // clients disconnected for stalling
	closeOnce  sync.Once
}

var _ http.Handler = (*Server)(nil)

// Stats says what a Server holds and has done.
type Stats struct {
	// Entries and Values are the catalogue entries and the values with
	// content that the server knows.
	Entries, Values int
	// Clients is the number of WebSocket clients connected.
	Clients int
	// OutOfOrder counts the number events the history refused because
	// they were older than the newest of their id (normal after a module
	// restarts).
	OutOfOrder uint64
	// Stalled counts the WebSocket clients disconnected because they did
	// not take a message within the write timeout.
	Stalled uint64
	// History is what the history store holds.
	History history.Stats
}

// New returns a Server that follows the application on bus. It follows the
// catalogue and every value (latest only) until Close. The Addr option
// does not apply: the caller serves the Server.
func New(bus *ipc.Bus, opts ...Option) (*Server, error) {
	if bus == nil {
		return nil, fmt.Errorf("%w: nil bus", ErrInvalidOption)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	hist, err := history.NewMemory(o.history...)
	if err != nil {
		return nil, fmt.Errorf("%w: History: %w", ErrInvalidOption, err)
	}
	s := &Server{
		bus:        bus,
		opts:       o,
		log:        bus.Logger().With("component", "dashboard"),
		hist:       hist,
		entries:    make(map[string]ipc.Description),
		latest:     make(map[string]ipc.Event),
		clients:    make(map[*client]struct{}),
		auth:       newAuth(o, time.Now),
		placements: make(map[string][]layout.Placement),
		rules:      make(map[string]*rule),
	}
	s.e = s.routes()
	sub, err := bus.FollowCatalogue(s.catalogueChanged)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.subs = append(s.subs, sub)
	sub, err = bus.SubscribePattern(">", s.valueChanged, ipc.LatestOnly())
	if err != nil {
		s.Close()
		return nil, err
	}
	s.subs = append(s.subs, sub)
	return s, nil
}

// ServeHTTP serves the dashboard's API under /api/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.e.ServeHTTP(w, r)
}

// Close stops following the application, disconnects every WebSocket
// client, waits for their goroutines and drops the history. It is
// idempotent and returns nil.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		for _, sub := range s.subs {
			sub.Close()
		}
		s.mu.Lock()
		s.closed = true
		clients := s.clients
		s.clients = map[*client]struct{}{}
		s.mu.Unlock()
		for c := range clients {
			c.cancel()
		}
		s.wg.Wait()
		s.hist.Close()
	})
	return nil
}

// Stats returns what s holds and has done.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Entries: len(s.entries), Values: len(s.latest), Clients: len(s.clients)}
	s.mu.Unlock()
	st.OutOfOrder = s.outOfOrder.Load()
	st.Stalled = s.dropped.Load()
	st.History = s.hist.Stats()
	return st
}

// catalogueChanged runs on the bus's dispatch goroutine.
func (s *Server) catalogueChanged(ch ipc.CatalogueChange) {
	d := ch.Description
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catVersion++
	switch ch.Kind {
	case ipc.ChangeAnnounced:
		s.entries[d.ID] = d
		if s.auth != nil {
			s.accessChangedLocked(s.updateAccessLocked(d.ID, &d), d.ID)
			return
		}
		for c := range s.clients {
			c.entryChanged(d.ID, &d)
		}
	case ipc.ChangeRetired:
		delete(s.entries, d.ID)
		delete(s.latest, d.ID)
		s.hist.Forget(d.ID)
		if s.auth != nil {
			s.accessChangedLocked(s.updateAccessLocked(d.ID, nil), "")
			return
		}
		for c := range s.clients {
			c.entryChanged(d.ID, nil)
		}
	}
}

// valueChanged runs on the bus's dispatch goroutine.
func (s *Server) valueChanged(ev ipc.Event) {
	if ev.Value.Type() == ipc.TypeNumber {
		err := s.hist.Append(ev.ID, history.Point{Time: ev.Time, Value: ev.Value.Number()})
		switch {
		case err == nil, errors.Is(err, history.ErrInvalidValue), errors.Is(err, history.ErrClosed):
		case errors.Is(err, history.ErrOutOfOrder):
			s.outOfOrder.Add(1)
		default:
			s.log.Warn("dashboard: history", "id", ev.ID, "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest[ev.ID] = ev
	for c := range s.clients {
		if c.user == nil || c.known[ev.ID] {
			c.valueChanged(ev)
		}
	}
}

// valueJSON is a value event as the dashboard sends it.
type valueJSON struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
	Time  int64  `json:"time"` // unix milliseconds
}

func toJSON(ev ipc.Event) valueJSON {
	return valueJSON{ID: ev.ID, Value: jsonValue(ev.Value), Time: ev.Time.UnixMilli()}
}

// jsonValue returns v's content as JSON can carry it: infinite numbers
// as the strings "+Inf" and "-Inf", a datetime as RFC 3339.
func jsonValue(v ipc.Value) any {
	switch v.Type() {
	case ipc.TypeNumber:
		f := v.Number()
		if math.IsInf(f, 1) {
			return "+Inf"
		}
		if math.IsInf(f, -1) {
			return "-Inf"
		}
		return f
	case ipc.TypeDateTime:
		return v.Time().Format(time.RFC3339Nano)
	}
	return v.Any()
}

// fromJSON converts what a browser sent for the value id into what Bus.Set
// takes, after the value's type in the catalogue: enum and color text, and
// RFC 3339 datetimes. Other content is left to the owner to check.
func (s *Server) fromJSON(id string, x any) any {
	s.mu.Lock()
	d, ok := s.entries[id]
	s.mu.Unlock()
	str, isStr := x.(string)
	if !ok || !isStr {
		return x
	}
	switch d.Type {
	case ipc.TypeEnum:
		return ipc.EnumValue(str)
	case ipc.TypeColor:
		return ipc.ColorValue(str)
	case ipc.TypeDateTime:
		if t, err := time.Parse(time.RFC3339Nano, str); err == nil {
			return ipc.DateTimeValue(t)
		}
	}
	return x
}

// set writes a browser's value to id.
func (s *Server) set(ctx context.Context, id string, x any) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.callTimeout)
	defer cancel()
	return s.bus.Set(ctx, id, s.fromJSON(id, x))
}

// call calls the action id for a browser and returns its result as JSON.
func (s *Server) call(ctx context.Context, id string, args []any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.callTimeout)
	defer cancel()
	res, err := s.bus.Call(ctx, id, args...)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, ipc.Errorf(ipc.CodeActionFailed, "%s: result cannot be sent as JSON: %v", id, err)
	}
	return b, nil
}

// status returns the HTTP status of err.
func status(err error) int {
	var he *echo.HTTPError
	switch {
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrBadRequest), errors.Is(err, history.ErrInvalidRange), errors.Is(err, history.ErrInvalidID):
		return http.StatusBadRequest
	case errors.As(err, &he):
		return he.Code
	}
	return ipc.HTTPStatus(err)
}

type errorJSON struct {
	Error string `json:"error"`
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		msg := err.Error()
		var he *echo.HTTPError
		if errors.As(err, &he) {
			msg = fmt.Sprint(he.Message)
		}
		c.JSON(status(err), errorJSON{Error: msg})
	}
	e.Use(s.guard)
	e.GET("/api/session", s.getSession)
	e.POST("/api/login", s.login)
	e.POST("/api/logout", s.logout)
	e.GET("/api/catalogue", s.getCatalogue)
	e.GET("/api/values", s.getValues)
	e.GET("/api/values/*", s.getValue)
	e.POST("/api/values/*", s.postValue)
	e.POST("/api/actions/*", s.postAction)
	e.GET("/api/history/*", s.getHistory)
	e.GET("/api/modules", s.callJSON(kervi.ModulesID))
	e.GET("/api/logs", s.callJSON(kervi.LogsID))
	e.GET("/api/live", s.live)
	e.GET("/api/layout", s.getLayout)
	e.Any("/*", s.serveStatic)
	return e
}

// idParam returns the id a path ends with.
func idParam(c echo.Context) (string, error) {
	raw := c.Param("*")
	id, err := url.PathUnescape(raw)
	if err != nil {
		return "", fmt.Errorf("%w: id %q: %v", ErrBadRequest, raw, err)
	}
	if err := ipc.ValidateID(id); err != nil {
		return "", err
	}
	return id, nil
}

// catalogueLocked returns the entries, sorted by id.
func (s *Server) catalogueLocked() []ipc.Description {
	out := make([]ipc.Description, 0, len(s.entries))
	for _, d := range s.entries {
		out = append(out, d)
	}
	sortByID(out, func(d ipc.Description) string { return d.ID })
	return out
}

// catalogueFor returns the entries u may read, sorted by id.
func (s *Server) catalogueFor(u *user) []ipc.Description {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalogueForLocked(u)
}

func (s *Server) catalogueForLocked(u *user) []ipc.Description {
	all := s.catalogueLocked()
	if s.auth == nil {
		return all
	}
	return slices.DeleteFunc(all, func(d ipc.Description) bool { return !s.canRead(u, d.ID) })
}

func (s *Server) getCatalogue(c echo.Context) error {
	return c.JSON(http.StatusOK, s.catalogueFor(userOf(c)))
}

func (s *Server) getValues(c echo.Context) error {
	u := userOf(c)
	s.mu.Lock()
	out := make([]valueJSON, 0, len(s.latest))
	for _, ev := range s.latest {
		if s.canRead(u, ev.ID) {
			out = append(out, toJSON(ev))
		}
	}
	s.mu.Unlock()
	sortByID(out, func(v valueJSON) string { return v.ID })
	return c.JSON(http.StatusOK, out)
}

// checkRead returns the error of a refused read of id by the user of c: a
// 403 for a component the user may not read, a 404 for one the catalogue
// does not hold (with users only).
func (s *Server) checkRead(c echo.Context, id string) error {
	if s.auth == nil {
		return nil
	}
	u := userOf(c)
	if s.canRead(u, id) {
		return nil
	}
	if s.ruleOf(id) == nil {
		return ipc.Errorf(ipc.CodeUnknownID, "%s: no such component", id)
	}
	return errReadRefused(u, id)
}

func (s *Server) getValue(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := s.checkRead(c, id); err != nil {
		return err
	}
	s.mu.Lock()
	ev, ok := s.latest[id]
	s.mu.Unlock()
	if !ok {
		// Not seen yet: the owner says why (unknown id, no content).
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.callTimeout)
		defer cancel()
		if ev, err = s.bus.Get(ctx, id); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, toJSON(ev))
}

// readBody decodes a JSON body of at most maxMessage bytes into v.
func (s *Server) readBody(c echo.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(s.opts.maxMessage)+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if len(body) > s.opts.maxMessage {
		return fmt.Errorf("%w: body larger than %d bytes", ErrBadRequest, s.opts.maxMessage)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrBadRequest, err)
	}
	return nil
}

type setBody struct {
	Value any `json:"value"`
}

func (s *Server) postValue(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var b setBody
	if err := s.readBody(c, &b); err != nil {
		return err
	}
	if b.Value == nil {
		return fmt.Errorf("%w: body needs a \"value\"", ErrBadRequest)
	}
	if err := s.checkWrite(userOf(c), id); err != nil {
		return err
	}
	if err := s.set(c.Request().Context(), id, b.Value); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type callBody struct {
	Args []any `json:"args"`
}

type resultJSON struct {
	Result json.RawMessage `json:"result"`
}

func (s *Server) postAction(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := s.checkWrite(userOf(c), id); err != nil {
		return err
	}
	var b callBody
	if c.Request().ContentLength != 0 {
		if err := s.readBody(c, &b); err != nil {
			return err
		}
	}
	res, err := s.call(c.Request().Context(), id, b.Args)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, resultJSON{Result: res})
}

// callJSON serves the result of an action without arguments.
func (s *Server) callJSON(id string) echo.HandlerFunc {
	return func(c echo.Context) error {
		res, err := s.call(c.Request().Context(), id, nil)
		if err != nil {
			return err
		}
		return c.JSONBlob(http.StatusOK, res)
	}
}

// parseTime reads an RFC 3339 time or unix milliseconds.
func parseTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s=%q: want RFC 3339 or unix milliseconds", ErrBadRequest, name, v)
	}
	return t, nil
}

func (s *Server) getHistory(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := s.checkRead(c, id); err != nil {
		return err
	}
	to, err := parseTime("to", c.QueryParam("to"), time.Now())
	if err != nil {
		return err
	}
	from, err := parseTime("from", c.QueryParam("from"), time.Unix(0, 0))
	if err != nil {
		return err
	}
	points := defaultHistoryPoints
	if p := c.QueryParam("points"); p != "" {
		points, err = strconv.Atoi(p)
		if err != nil || points < 1 || points > MaxHistoryPoints {
			return fmt.Errorf("%w: points=%q: want 1 to %d", ErrBadRequest, p, MaxHistoryPoints)
		}
	}
	pts, err := s.hist.Query(c.Request().Context(), id, from, to, points)
	if err != nil {
		return err
	}
	out := make([][2]float64, len(pts))
	for i, p := range pts {
		out[i] = [2]float64{float64(p.Time.UnixMilli()), p.Value}
	}
	return c.JSON(http.StatusOK, out)
}

func sortByID[T any](xs []T, id func(T) string) {
	slices.SortFunc(xs, func(a, b T) int { return strings.Compare(id(a), id(b)) })
}
