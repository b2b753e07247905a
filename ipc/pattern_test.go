package ipc

import (
	"errors"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	for _, c := range []struct {
		pattern string
		match   []string
		not     []string
	}{
		{">", []string{"a", "a.b", "a.b.c", ".", "a."}, nil},
		{"*", []string{"a", "fan_speed", "x:y/z"}, []string{"a.b", "."}},
		{"a.*", []string{"a.b", "a."}, []string{"a", "a.b.c", "b.a", "ab"}},
		{"a.>", []string{"a.b", "a.b.c", "a."}, []string{"a", "b.c", "ab.c"}},
		{"*.temp", []string{"room.temp", ".temp"}, []string{"temp", "room.temp.max", "room.tempx"}},
		{"a.*.c", []string{"a.b.c", "a..c"}, []string{"a.b", "a.b.c.d", "a.b.d"}},
		{"a.*.>", []string{"a.b.c", "a.b.c.d"}, []string{"a.b", "a"}},
		{"greenhouse.fan.speed", []string{"greenhouse.fan.speed"}, []string{"greenhouse.fan", "greenhouse.fan.speed.x", "greenhouse.fan.speedx"}},
	} {
		p, err := parsePattern(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		for _, id := range c.match {
			if !p.match(id) {
				t.Errorf("%q does not match %q", c.pattern, id)
			}
		}
		for _, id := range c.not {
			if p.match(id) {
				t.Errorf("%q matches %q", c.pattern, id)
			}
		}
	}
	// An id with empty tokens, which no pattern can name, still has its
	// own literal pattern.
	if l := literalPattern("a..b"); !l.match("a..b") || l.match("a.b") || l.match("a..b.c") {
		t.Error("literal pattern of a..b")
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	p, _ := parsePattern("greenhouse.*.>")
	for b.Loop() {
		p.match("greenhouse.climate.fan.speed")
	}
}

func TestExportedPattern(t *testing.T) {
	p, err := ParsePattern("greenhouse.*.temp")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match("greenhouse.bed1.temp") || p.Match("greenhouse.temp") || p.String() != "greenhouse.*.temp" {
		t.Fatalf("pattern %v: matches wrong", p)
	}
	if _, err := ParsePattern("a.>.b"); !errors.Is(err, ErrInvalidPattern) {
		t.Fatalf("a.>.b: %v, want ErrInvalidPattern", err)
	}
	var zero Pattern
	if zero.Match("a") || zero.String() != "" {
		t.Fatal("the zero Pattern matches")
	}
}
