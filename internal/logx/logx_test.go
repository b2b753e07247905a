package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
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
	if !Replay(h, child.Bytes()) {
		t.Fatalf("not replayed: %s", child.String())
	}
	got := parent.String()
	if !strings.Contains(got, "WARN  [controllers] fan stuck rpm=0 ok=false") {
		t.Fatalf("replayed as %q", got)
	}
	if Replay(h, []byte("panic: runtime error")) || Replay(h, []byte(`{"not":"a record"}`)) {
		t.Fatal("replayed a line that is not a log record")
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
