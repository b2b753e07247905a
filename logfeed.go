package kervi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/internal/logx"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// The log feed: the parent process publishes the warnings and errors of
// every process of the application (its own, and those of the module
// processes, whose log lines it replays) as events of one string value,
// and keeps the last of them for the action "kervi.logs".

// Ids of the log feed, owned by the parent process.
const (
	// LogFeedID is the id of the string value on which the parent
	// publishes each log record of the feed, as one JSON object
	// (LogRecord; ParseLogRecord reads it). Follow it with a full
	// subscription (ipc.Bus.Subscribe) to get every record in order.
	LogFeedID = "kervi.log"
	// LogsID is the id of the parent's action that returns the last
	// records of the feed ([]LogRecord, oldest first; at most LogHistory).
	LogsID = "kervi.logs"
)

// Bounds of the log feed.
const (
	// LogFeedRate is how many records the feed publishes per second at
	// most, with bursts of as many. The records beyond it are counted,
	// and the count is published in one record ("N log records
	// dropped") as soon as the rate allows.
	LogFeedRate = 200
	// LogHistory is how many of the last records the parent keeps for
	// the action "kervi.logs".
	LogHistory = 200
	// LogAttrMax bounds the message and each attribute's value of a
	// record, in bytes; a longer text is cut and ends with LogCutMarker.
	LogAttrMax = 4 << 10
	// LogRecordMax bounds the message and attributes of a record
	// together, in bytes; the attributes beyond it are left out, and the
	// attribute "kervi.cut" says how many.
	LogRecordMax = 16 << 10
	// LogCutMarker ends a text the feed cut.
	LogCutMarker = "…[cut]"
)

// LogRecord is one record of the log feed.
type LogRecord struct {
	// Time is when the record was logged (RFC 3339 in JSON).
	Time time.Time `json:"time"`
	// Level is the record's level ("WARN", "ERROR" in JSON).
	Level slog.Level `json:"level"`
	// Module is the module whose process logged the record, or that the
	// record is about (its "module" attribute); "app" for the parent
	// process's own records.
	Module string `json:"module"`
	// Msg is the record's message.
	Msg string `json:"msg"`
	// Attrs are the record's other attributes as text, groups flattened
	// to dotted keys ("request.id"), times in RFC 3339, durations as
	// "500ms".
	Attrs map[string]string `json:"attrs,omitempty"`
}

// ParseLogRecord reads a record of the log feed: the content of an event
// of LogFeedID.
func ParseLogRecord(text string) (LogRecord, error) {
	var r LogRecord
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return LogRecord{}, fmt.Errorf("kervi: log record: %w", err)
	}
	return r, nil
}

// logFeed admits records within its rate, keeps the last of them, and
// hands them to its publisher. Adding a record never blocks.
type logFeed struct {
	level    slog.Level
	rate     float64                     // records per second, also the burst
	now      func() time.Time            // the clock of the rate; time.Now
	fallback atomic.Pointer[slog.Logger] // the feed's own problems; never the feed

	mu      sync.Mutex
	tokens  float64
	refill  time.Time // when tokens were last refilled
	dropped uint64    // records not published since the last summary
	retry   *time.Timer
	closed  bool
	ring    []LogRecord // the last records, oldest at head once full
	head    int
	out     chan LogRecord
}

func newLogFeed(level slog.Level) *logFeed {
	return &logFeed{level: level, rate: LogFeedRate, now: time.Now, tokens: LogFeedRate, refill: time.Now(),
		out: make(chan LogRecord, 2*LogFeedRate)}
}

// add admits r if the rate allows and the publisher keeps up, and counts
// it as dropped otherwise.
func (f *logFeed) add(r LogRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.refillLocked()
	if f.dropped > 0 && !f.summaryLocked() || f.tokens < 1 {
		f.dropped++
		f.scheduleLocked()
		return
	}
	f.tokens--
	if !f.admitLocked(r) {
		f.dropped++
		f.scheduleLocked()
	}
}

func (f *logFeed) refillLocked() {
	now := f.now()
	f.tokens = min(f.rate, f.tokens+now.Sub(f.refill).Seconds()*f.rate)
	f.refill = now
}

// admitLocked hands r to the publisher and keeps it, if the publisher
// keeps up.
func (f *logFeed) admitLocked(r LogRecord) bool {
	select {
	case f.out <- r:
	default:
		return false
	}
	if len(f.ring) < LogHistory {
		f.ring = append(f.ring, r)
	} else {
		f.ring[f.head] = r
		f.head = (f.head + 1) % LogHistory
	}
	return true
}

// summaryLocked admits the record that counts the dropped records, if the
// rate allows.
func (f *logFeed) summaryLocked() bool {
	if f.tokens < 1 {
		return false
	}
	n := f.dropped
	r := LogRecord{Time: time.Now(), Level: slog.LevelWarn, Module: appModule,
		Msg: fmt.Sprintf("%d log records dropped", n), Attrs: map[string]string{"dropped": strconv.FormatUint(n, 10)}}
	if !f.admitLocked(r) {
		return false
	}
	f.tokens--
	f.dropped = 0
	return true
}

// scheduleLocked makes sure the dropped count is published once the rate
// allows, even if nothing more is logged.
func (f *logFeed) scheduleLocked() {
	if f.retry != nil || f.closed {
		return
	}
	wait := max(time.Duration((1-f.tokens)/f.rate*float64(time.Second)), 5*time.Millisecond)
	f.retry = time.AfterFunc(wait, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.retry = nil
		if f.closed || f.dropped == 0 {
			return
		}
		f.refillLocked()
		if !f.summaryLocked() {
			f.scheduleLocked()
		}
	})
}

// history returns the records kept, oldest first.
func (f *logFeed) history() []LogRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]LogRecord, 0, len(f.ring))
	out = append(out, f.ring[f.head:]...)
	return append(out, f.ring[:f.head]...)
}

func (f *logFeed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.retry != nil {
		f.retry.Stop()
		f.retry = nil
	}
}

// start makes the feed's value and action on the parent's bus and runs
// its publisher on a goroutine of the bus, until the bus stops.
func (f *logFeed) start(b *ipc.Bus) {
	val := values.NewString(b, LogFeedID, "Log", values.Output())
	actions.Register(b, LogsID, func(context.Context) []LogRecord { return f.history() },
		actions.Name("Recent log records"), actions.WithMode(actions.Concurrent))
	b.Go(func(ctx context.Context) {
		defer f.close()
		for {
			select {
			case r := <-f.out:
				text, err := json.Marshal(r)
				if err == nil {
					err = val.Set(string(text))
				}
				if err != nil && ctx.Err() == nil {
					// To the logger the feed wraps, never to the feed.
					f.fallback.Load().Warn("log feed: a record was not published", "error", err.Error())
				}
			case <-ctx.Done():
				return
			}
		}
	})
}

// wrapLogger returns a logger that logs to l and feeds the log feed, if
// the application has one.
func (a *Application) wrapLogger(l *slog.Logger) *slog.Logger {
	if a.feed == nil {
		return l
	}
	a.feed.fallback.Store(l)
	return slog.New(&feedHandler{inner: l.Handler(), feed: a.feed})
}

// feedHandler hands every record to its inner handler, and those at the
// feed's level or above to the feed.
type feedHandler struct {
	inner  slog.Handler
	feed   *logFeed
	module string     // from WithAttrs
	attrs  []flatAttr // from WithAttrs, flattened
	group  string     // the key prefix of WithGroup, with its final '.'
}

type flatAttr struct{ key, val string }

func (h *feedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.feed.level || h.inner.Enabled(ctx, l)
}

func (h *feedHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.inner.Enabled(ctx, r.Level) {
		err = h.inner.Handle(ctx, r)
	}
	if r.Level >= h.feed.level {
		if rec, ok := h.record(r); ok {
			h.feed.add(rec)
		}
	}
	return err
}

func (h *feedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.inner = h.inner.WithAttrs(as)
	h2.attrs = append([]flatAttr(nil), h.attrs...)
	for _, a := range as {
		if a.Key == logx.ModuleKey && h.group == "" {
			h2.module = a.Value.String()
			continue
		}
		h2.attrs = flatten(h2.attrs, h.group, a)
	}
	return &h2
}

func (h *feedHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.inner = h.inner.WithGroup(name)
	h2.group = h.group + name + "."
	return &h2
}

// record makes the feed's record of r; it reports false for a record
// about the feed's own value, which must not feed itself.
func (h *feedHandler) record(r slog.Record) (LogRecord, bool) {
	module := h.module
	attrs := h.attrs
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == logx.ModuleKey && h.group == "" {
			module = a.Value.String()
			return true
		}
		attrs = flatten(attrs, h.group, a)
		return true
	})
	if module == "" {
		module = appModule
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	rec := LogRecord{Time: t, Level: r.Level, Module: cut(module, LogAttrMax), Msg: cut(r.Message, LogAttrMax)}
	for _, a := range attrs {
		if a.val == LogFeedID || a.val == strconv.Quote(LogFeedID) {
			return LogRecord{}, false
		}
	}
	if len(attrs) > 0 {
		rec.Attrs = make(map[string]string, len(attrs))
	}
	total := len(rec.Msg) + len(rec.Module)
	for i, a := range attrs {
		k, v := cut(a.key, LogAttrMax), cut(a.val, LogAttrMax)
		if total+len(k)+len(v) > LogRecordMax {
			rec.Attrs["kervi.cut"] = fmt.Sprintf("%d attributes left out", len(attrs)-i)
			break
		}
		total += len(k) + len(v)
		rec.Attrs[k] = v
	}
	return rec, true
}

// flatten appends a's attributes as text, groups as dotted keys.
func flatten(out []flatAttr, prefix string, a slog.Attr) []flatAttr {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return out
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			out = flatten(out, p, ga)
		}
		return out
	}
	s := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		s = a.Value.Time().Format(time.RFC3339Nano)
	}
	return append(out, flatAttr{key: prefix + a.Key, val: s})
}

// cut bounds s to n bytes, on a character boundary, ending it with
// LogCutMarker if it was cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len(LogCutMarker)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + LogCutMarker
}
