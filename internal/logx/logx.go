// Package logx holds kervi's logging plumbing: a console handler that puts
// the module first, the replay of a module process's JSON log lines into
// the parent's logger, and line-splitting writers.
package logx

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// ModuleKey is the attribute that names the module a record comes from.
const ModuleKey = "module"

// Console is a slog handler for people at a terminal:
//
//	15:04:05.000 INFO  [sensors] sensor started id=cpu_load
//
// An attribute whose value spans lines, such as a panic's stack, follows
// the record's line as an indented block instead of being quoted on it:
//
//	15:04:05.000 ERROR [sensors] action panicked action=reset panic=boom
//	  stack:
//	    goroutine 7 [running]:
//	    ...
type Console struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	module string
	attrs  []byte // preformatted " k=v" pairs
	blocks []byte // preformatted blocks of multi-line attributes
	group  string
}

// NewConsole returns a console handler writing to w.
func NewConsole(w io.Writer, level slog.Leveler) *Console {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Console{mu: new(sync.Mutex), w: w, level: level}
}

// Enabled implements slog.Handler.
func (h *Console) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle implements slog.Handler.
func (h *Console) Handle(_ context.Context, r slog.Record) error {
	buf := make([]byte, 0, 256)
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	buf = t.AppendFormat(buf, "15:04:05.000")
	buf = append(buf, ' ')
	buf = appendLevel(buf, r.Level)
	module := h.module
	var attrs attrBuf
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ModuleKey && h.group == "" {
			module = a.Value.String()
			return true
		}
		attrs.add(h.group, a)
		return true
	})
	if module != "" {
		buf = append(buf, '[')
		buf = append(buf, module...)
		buf = append(buf, "] "...)
	}
	buf = append(buf, r.Message...)
	buf = append(buf, h.attrs...)
	buf = append(buf, attrs.line...)
	buf = append(buf, '\n')
	buf = append(buf, h.blocks...)
	buf = append(buf, attrs.blocks...)
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

// appendLevel appends the level's name, padded so that messages line up.
func appendLevel(buf []byte, l slog.Level) []byte {
	lvl := l.String()
	buf = append(buf, lvl...)
	for i := len(lvl); i < 6; i++ {
		buf = append(buf, ' ')
	}
	return buf
}

// attrBuf formats attributes the console's way: " k=v" on the record's
// line, and values that span lines as blocks after it or, if short is
// set, as a note of their length on the line.
type attrBuf struct {
	line   []byte
	blocks []byte
	short  bool
}

func (b *attrBuf) add(group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			b.add(key, ga)
		}
		return
	}
	s := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		s = a.Value.Time().Format(time.RFC3339Nano)
	}
	if strings.Contains(s, "\n") {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		if b.short {
			b.line = fmt.Appendf(b.line, " %s=<%d lines, see the log>", key, len(lines))
			return
		}
		b.blocks = append(b.blocks, "  "...)
		b.blocks = append(b.blocks, key...)
		b.blocks = append(b.blocks, ":\n"...)
		for _, l := range lines {
			b.blocks = append(b.blocks, "    "...)
			b.blocks = append(b.blocks, strings.TrimRight(l, "\r")...)
			b.blocks = append(b.blocks, '\n')
		}
		return
	}
	if needsQuotes(s) {
		s = strconv.Quote(s)
	}
	b.line = append(b.line, ' ')
	b.line = append(b.line, key...)
	b.line = append(b.line, '=')
	b.line = append(b.line, s...)
}

// needsQuotes reports whether a value must be quoted on the console: it is
// empty, or has spaces, quotes, '=' or characters a terminal would not
// show as such.
func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for _, c := range s {
		if c == ' ' || c == '"' || c == '=' || !unicode.IsPrint(c) {
			return true
		}
	}
	return false
}

// WithAttrs implements slog.Handler.
func (h *Console) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	attrs := attrBuf{line: append([]byte(nil), h.attrs...), blocks: append([]byte(nil), h.blocks...)}
	for _, a := range as {
		if a.Key == ModuleKey && h.group == "" {
			h2.module = a.Value.String()
			continue
		}
		attrs.add(h.group, a)
	}
	h2.attrs, h2.blocks = attrs.line, attrs.blocks
	return &h2
}

// WithGroup implements slog.Handler.
func (h *Console) WithGroup(name string) slog.Handler {
	h2 := *h
	if h2.group != "" {
		name = h2.group + "." + name
	}
	h2.group = name
	return &h2
}

// Text formats a record on one line for an error report, as the console
// shows it but without the time and the module:
//
//	ERROR setup failed error="sensor bme280 not found"
//
// An attribute whose value spans lines, such as a stack, shows only how
// many lines it has; the log has it whole.
func Text(r slog.Record) string {
	buf := appendLevel(make([]byte, 0, 128), r.Level)
	buf = append(buf, r.Message...)
	attrs := attrBuf{short: true}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != ModuleKey {
			attrs.add("", a)
		}
		return true
	})
	return string(append(buf, attrs.line...))
}

// durationKey marks a duration in a module process's JSON lines:
// "retry_in":{"kervi.duration":"500ms"}, which Replay turns back into a
// duration. The JSON handler would write nanoseconds.
const durationKey = "kervi.duration"

// NewModuleHandler returns the handler a module process logs with: JSON
// lines on w, one per record, that Replay turns back into records in the
// parent. Durations stay durations (the JSON handler alone would write
// them as nanoseconds).
func NewModuleHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: moduleAttr})
}

func moduleAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.Group(a.Key, slog.String(durationKey, a.Value.Duration().String()))
	case slog.KindAny:
		// A fmt.Stringer (a named state, a mode) is written as its String,
		// as the console writes it, not as the JSON of its underlying
		// number. Errors and types with a JSON or text form keep theirs.
		switch v := a.Value.Any().(type) {
		case error, json.Marshaler, encoding.TextMarshaler:
		case fmt.Stringer:
			if s, ok := stringOf(v); ok {
				return slog.String(a.Key, s)
			}
		}
	}
	return a
}

// stringOf returns v.String(), or false if it panics (a nil pointer).
func stringOf(v fmt.Stringer) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v.String(), true
}

// Replay re-emits a line a module process's handler (NewModuleHandler)
// wrote, through the parent's handler, with its time, level, message and
// attributes. It returns the record as Text, for error reports, and
// reports false if the line is not such a record.
func Replay(h slog.Handler, line []byte) (text string, ok bool) {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' {
		return "", false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	r := slog.Record{}
	var attrs []slog.Attr
	haveMsg, haveLevel := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		switch key {
		case slog.TimeKey:
			var s string
			if json.Unmarshal(raw, &s) == nil {
				r.Time, _ = time.Parse(time.RFC3339Nano, s)
			}
		case slog.LevelKey:
			var s string
			if json.Unmarshal(raw, &s) != nil || r.Level.UnmarshalText([]byte(s)) != nil {
				return "", false
			}
			haveLevel = true
		case slog.MessageKey:
			if json.Unmarshal(raw, &r.Message) != nil {
				return "", false
			}
			haveMsg = true
		default:
			attrs = append(attrs, slog.Attr{Key: key, Value: jsonValue(raw)})
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') || !haveMsg || !haveLevel {
		return "", false
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	rec := slog.NewRecord(r.Time, r.Level, r.Message, 0)
	rec.AddAttrs(attrs...)
	if h.Enabled(context.Background(), rec.Level) {
		_ = h.Handle(context.Background(), rec)
	}
	return Text(rec), true
}

// jsonValue converts an attribute's JSON back into a slog value: objects
// into groups, in their order, and marked durations into durations.
func jsonValue(raw json.RawMessage) slog.Value {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if len(raw) > 0 && raw[0] == '{' {
		if g, ok := jsonGroup(dec); ok {
			return g
		}
		return slog.StringValue(string(raw))
	}
	var v any
	if dec.Decode(&v) != nil {
		return slog.StringValue(string(raw))
	}
	switch x := v.(type) {
	case string:
		return slog.StringValue(x)
	case bool:
		return slog.BoolValue(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return slog.Int64Value(i)
		}
		f, _ := x.Float64()
		return slog.Float64Value(f)
	case nil:
		return slog.AnyValue(nil)
	}
	return slog.StringValue(string(raw))
}

// jsonGroup reads an object from dec as a group, or as a duration if it
// is one that moduleAttr marked.
func jsonGroup(dec *json.Decoder) (slog.Value, bool) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return slog.Value{}, false
	}
	var attrs []slog.Attr
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return slog.Value{}, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return slog.Value{}, false
		}
		attrs = append(attrs, slog.Attr{Key: key, Value: jsonValue(raw)})
	}
	if len(attrs) == 1 && attrs[0].Key == durationKey && attrs[0].Value.Kind() == slog.KindString {
		if d, err := time.ParseDuration(attrs[0].Value.String()); err == nil {
			return slog.DurationValue(d), true
		}
	}
	return slog.GroupValue(attrs...), true
}

// LineWriter calls fn with each complete line written to it, without the
// newline; Close flushes a last unterminated line. Lines longer than 64 KiB
// are split.
type LineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(line []byte)
}

// NewLineWriter returns a LineWriter calling fn.
func NewLineWriter(fn func(line []byte)) *LineWriter { return &LineWriter{fn: fn} }

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 64<<10 {
				w.fn(w.buf)
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.fn(bytes.TrimRight(w.buf[:i], "\r"))
		w.buf = w.buf[i+1:]
	}
}

// Close flushes an unterminated last line.
func (w *LineWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.fn(w.buf)
		w.buf = nil
	}
	return nil
}

// Tail keeps the last lines written to it, for error reports.
type Tail struct {
	mu    sync.Mutex
	lines []string
	max   int
}

// NewTail keeps the last max lines.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Add appends a line.
func (t *Tail) Add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == t.max {
		copy(t.lines, t.lines[1:])
		t.lines = t.lines[:t.max-1]
	}
	t.lines = append(t.lines, line)
}

// Lines returns the kept lines, oldest first.
func (t *Tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

// ParseLevel parses a level name such as "debug" or "WARN"; "" is info.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: %w", s, err)
	}
	return l, nil
}
