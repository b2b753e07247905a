// Package logx holds kervi's logging plumbing: a console handler that puts
// the module first, the replay of a module process's JSON log lines into
// the parent's logger, and line-splitting writers.
package logx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ModuleKey is the attribute that names the module a record comes from.
const ModuleKey = "module"

// Console is a slog handler for people at a terminal:
//
//	15:04:05.000 INFO  [sensors] sensor started id=cpu_load
type Console struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	module string
	attrs  []byte // preformatted " k=v" pairs
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
	lvl := r.Level.String()
	buf = append(buf, lvl...)
	for i := len(lvl); i < 6; i++ {
		buf = append(buf, ' ')
	}
	module := h.module
	var attrs []byte
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == ModuleKey && h.group == "" {
			module = a.Value.String()
			return true
		}
		attrs = appendAttr(attrs, h.group, a)
		return true
	})
	if module != "" {
		buf = append(buf, '[')
		buf = append(buf, module...)
		buf = append(buf, "] "...)
	}
	buf = append(buf, r.Message...)
	buf = append(buf, h.attrs...)
	buf = append(buf, attrs...)
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf)
	return err
}

func appendAttr(buf []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	key := a.Key
	if group != "" {
		key = group + "." + key
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			buf = appendAttr(buf, key, ga)
		}
		return buf
	}
	buf = append(buf, ' ')
	buf = append(buf, key...)
	buf = append(buf, '=')
	s := a.Value.String()
	if a.Value.Kind() == slog.KindTime {
		s = a.Value.Time().Format(time.RFC3339Nano)
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	return append(buf, s...)
}

// WithAttrs implements slog.Handler.
func (h *Console) WithAttrs(as []slog.Attr) slog.Handler {
	h2 := *h
	h2.attrs = append([]byte(nil), h.attrs...)
	for _, a := range as {
		if a.Key == ModuleKey && h.group == "" {
			h2.module = a.Value.String()
			continue
		}
		h2.attrs = appendAttr(h2.attrs, h.group, a)
	}
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

// Replay re-emits a line a module process's JSON handler wrote, through
// the parent's handler, with its time, level, message and attributes. It
// reports false if the line is not such a record.
func Replay(h slog.Handler, line []byte) bool {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	r := slog.Record{}
	var attrs []slog.Attr
	haveMsg, haveLevel := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false
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
				return false
			}
			haveLevel = true
		case slog.MessageKey:
			if json.Unmarshal(raw, &r.Message) != nil {
				return false
			}
			haveMsg = true
		default:
			attrs = append(attrs, jsonAttr(key, raw))
		}
	}
	if !haveMsg || !haveLevel {
		return false
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	rec := slog.NewRecord(r.Time, r.Level, r.Message, 0)
	rec.AddAttrs(attrs...)
	if !h.Enabled(context.Background(), rec.Level) {
		return true
	}
	_ = h.Handle(context.Background(), rec)
	return true
}

func jsonAttr(key string, raw json.RawMessage) slog.Attr {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return slog.String(key, string(raw))
	}
	switch x := v.(type) {
	case string:
		return slog.String(key, x)
	case bool:
		return slog.Bool(key, x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return slog.Int64(key, i)
		}
		f, _ := x.Float64()
		return slog.Float64(key, f)
	case map[string]any:
		var group []any
		for k, gv := range x {
			b, _ := json.Marshal(gv)
			group = append(group, jsonAttr(k, b))
		}
		return slog.Group(key, group...)
	case nil:
		return slog.Any(key, nil)
	}
	return slog.String(key, string(raw))
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
