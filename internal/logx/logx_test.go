package logx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/ipc"
)

func TestConsolePutsModuleFirst(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewConsole(&buf, slog.LevelInfo))
	log.With(ModuleKey, "sensors").Info("sensor started", "id", "cpu_load", "note", "two words")
	log.Debug("hidden")
	log.WithGroup("g").Warn("grouped", "k", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	if !strings.HasSuffix(lines[0], `INFO  [sensors] sensor started id=cpu_load note="two words"`) {
		t.Fatalf("got %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], "WARN  grouped g.k=1") {
		t.Fatalf("got %q", lines[1])
	}
}

func TestReplayKeepsLevelTimeAndAttributes(t *testing.T) {
	var child bytes.Buffer
	slog.New(slog.NewJSONHandler(&child, nil)).With(ModuleKey, "controllers").Warn("fan stuck", "rpm", 0, "ok", false)
	var parent bytes.Buffer
	h := NewConsole(&parent, slog.LevelInfo)
	text, ok := Replay(h, child.Bytes())
	if !ok {
		t.Fatalf("not replayed: %s", child.String())
	}
	got := parent.String()
	if !strings.Contains(got, "WARN  [controllers] fan stuck rpm=0 ok=false") {
		t.Fatalf("replayed as %q", got)
	}
	if text != "WARN  fan stuck rpm=0 ok=false" {
		t.Fatalf("text %q", text)
	}
	for _, line := range []string{"panic: runtime error", `{"not":"a record"}`, `{"level":"INFO","msg":"x"`} {
		if _, ok := Replay(h, []byte(line)); ok {
			t.Fatalf("replayed %q, which is not a log record", line)
		}
	}
}

// records is a slog handler that keeps the records it gets.
type records struct{ recs []slog.Record }

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.recs = append(h.recs, r)
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// roundTrip logs through a module process's handler and replays the line
// into a console; it returns the console's output and the record's text.
func roundTrip(t *testing.T, log func(*slog.Logger)) (console, text string) {
	t.Helper()
	var child, parent bytes.Buffer
	log(slog.New(NewModuleHandler(&child, slog.LevelDebug)).With(ModuleKey, "sensors"))
	text, ok := Replay(NewConsole(&parent, slog.LevelDebug), child.Bytes())
	if !ok {
		t.Fatalf("not replayed: %s", child.String())
	}
	return parent.String(), text
}

func TestReplayKeepsDurations(t *testing.T) {
	logDurations := func(l *slog.Logger) {
		l.Warn("sensor read failed", "retry_in", 500*time.Millisecond,
			slog.Group("backoff", "max", time.Minute, "min", 1500*time.Microsecond),
			slog.Group("grp", durationKey, "not a duration"))
	}
	console, text := roundTrip(t, logDurations)
	const want = "WARN  [sensors] sensor read failed retry_in=500ms backoff.max=1m0s backoff.min=1.5ms grp.kervi.duration=\"not a duration\"\n"
	if !strings.HasSuffix(console, want) {
		t.Fatalf("console %q, want the suffix %q", console, want)
	}
	if !strings.HasPrefix(text, "WARN  sensor read failed retry_in=500ms backoff.max=1m0s") {
		t.Fatalf("text %q", text)
	}
	// The parent's handler gets durations, not strings or nanoseconds.
	var child bytes.Buffer
	logDurations(slog.New(NewModuleHandler(&child, nil)))
	var got records
	if _, ok := Replay(&got, child.Bytes()); !ok || len(got.recs) != 1 {
		t.Fatalf("not replayed: %s", child.String())
	}
	got.recs[0].Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" && (a.Value.Kind() != slog.KindDuration || a.Value.Duration() != 500*time.Millisecond) {
			t.Errorf("retry_in replayed as %v (%v)", a.Value, a.Value.Kind())
		}
		return true
	})
}

func TestValuesLogTheirContent(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)
	logValues := func(l *slog.Logger) {
		l.Info("values", "color", ipc.ColorValue("#ff0000"), "name", ipc.StringValue("fan"),
			"label", ipc.StringValue("two words"), "mode", ipc.EnumValue("auto"), "temp", ipc.NumberValue(21.5),
			"on", ipc.BoolValue(true), "none", ipc.Value{}, "at", ipc.DateTimeValue(at))
	}
	// Through a module process, and in the parent's own process.
	console, text := roundTrip(t, logValues)
	var direct bytes.Buffer
	logValues(slog.New(NewConsole(&direct, slog.LevelInfo)).With(ModuleKey, "sensors"))
	const attrs = ` color=#ff0000 name=fan label="two words" mode=auto temp=21.5 on=true none=<none> at=`
	for _, got := range []string{console, direct.String()} {
		if !strings.Contains(got, "INFO  [sensors] values"+attrs) {
			t.Errorf("console %q, want %q", got, attrs)
		}
		line := strings.TrimSpace(got)
		if at2, err := time.Parse(time.RFC3339Nano, line[strings.LastIndex(line, "at=")+3:]); err != nil || !at2.Equal(at) {
			t.Errorf("datetime logged as %q", line)
		}
	}
	if !strings.HasPrefix(text, "INFO  values"+attrs) {
		t.Errorf("text %q", text)
	}
}

func TestConsoleShowsStacksAsBlocks(t *testing.T) {
	stack := string(debug.Stack())
	console, text := roundTrip(t, func(l *slog.Logger) {
		l.Error("action panicked", "action", "fan.reset", "panic", "gear slipped", "stack", stack, "after", 1)
	})
	lines := strings.Split(strings.TrimSuffix(console, "\n"), "\n")
	if !strings.HasSuffix(lines[0], `ERROR [sensors] action panicked action=fan.reset panic="gear slipped" after=1`) {
		t.Fatalf("first line %q", lines[0])
	}
	if lines[1] != "  stack:" || !strings.HasPrefix(lines[2], "    goroutine ") || !strings.HasSuffix(lines[2], "[running]:") {
		t.Fatalf("no stack block after the record's line:\n%s", console)
	}
	if want := strings.Count(strings.TrimRight(stack, "\n"), "\n") + 3; len(lines) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), want, console)
	}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "    ") {
			t.Fatalf("stack line %q not indented", l)
		}
	}
	if strings.Count(console, "[running]:") != 1 || strings.Contains(console, `\n`) || strings.Contains(console, `\t`) {
		t.Fatalf("stack not shown once with real line breaks:\n%s", console)
	}
	n := strings.Count(strings.TrimRight(stack, "\n"), "\n") + 1
	wantText := fmt.Sprintf(`ERROR action panicked action=fan.reset panic="gear slipped" stack=<%d lines, see the log> after=1`, n)
	if text != wantText {
		t.Fatalf("text %q, want %q", text, wantText)
	}

	// Attributes added with With, and a value with a trailing newline only.
	var buf bytes.Buffer
	slog.New(NewConsole(&buf, slog.LevelInfo)).With("config", "a: 1\nb: 2\n").Info("loaded", "note", "done\n", "esc", "\x1b[31mred")
	const want = "INFO  loaded esc=\"\\x1b[31mred\"\n  config:\n    a: 1\n    b: 2\n  note:\n    done\n"
	if got := buf.String(); !strings.HasSuffix(got, want) {
		t.Fatalf("got %q, want the suffix %q", got, want)
	}
}

func TestLineWriterSplitsLines(t *testing.T) {
	var got []string
	w := NewLineWriter(func(l []byte) { got = append(got, string(l)) })
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\r\nthree"))
	w.Close()
	if strings.Join(got, "|") != "one|two|three" {
		t.Fatalf("got %q", got)
	}
}

func TestTailKeepsTheLastLines(t *testing.T) {
	tl := NewTail(2)
	for _, l := range []string{"a", "b", "c"} {
		tl.Add(l)
	}
	if got := tl.Lines(); strings.Join(got, "") != "bc" {
		t.Fatalf("got %q", got)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "WARN": slog.LevelWarn} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) accepted")
	}
}

// mode is a named number with a String, as devices/host.Mode.
type mode int

func (m mode) String() string { return [...]string{"auto", "real", "fake"}[m] }

// A module process logs a fmt.Stringer as its String, as the console
// does, not as the number underneath; a nil pointer's panicking String
// does not break the record.
func TestModuleLogsStringersByName(t *testing.T) {
	var child bytes.Buffer
	var nilStringer *strings.Builder
	slog.New(NewModuleHandler(&child, nil)).Warn("devices are fakes", "mode", mode(2), "err", errors.New("no board"), "nil", nilStringer)
	var parent bytes.Buffer
	if _, ok := Replay(NewConsole(&parent, slog.LevelInfo), child.Bytes()); !ok {
		t.Fatalf("not replayed: %s", child.String())
	}
	if got := parent.String(); !strings.Contains(got, `devices are fakes mode=fake err="no board"`) {
		t.Fatalf("replayed as %q", got)
	}
}
