package font5x7

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	for r := rune(0x20); r < 0x7F; r++ {
		if _, ok := Lookup(r); !ok {
			t.Errorf("no glyph for %q", r)
		}
	}
	if _, ok := Lookup('°'); !ok {
		t.Error("no glyph for °")
	}
	if g, ok := Lookup('é'); ok || g != box {
		t.Error("é is not a box")
	}
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if len(f) != 8 {
			t.Errorf("line %q: %d fields", line, len(f))
			continue
		}
		for _, row := range f[1:] {
			if len(row) != 5 || strings.Trim(row, "01") != "" {
				t.Errorf("line %q: row %q", line, row)
			}
		}
	}
}

func TestDraw(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 12, 8))
	r := Draw(img, 0, 0, "H1", color.White, color.Black)
	if r != image.Rect(0, 0, 12, 8) {
		t.Errorf("rect %v", r)
	}
	var b strings.Builder
	for y := range 8 {
		for x := range 12 {
			if img.GrayAt(x, y).Y != 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	want := "" +
		"#...#...#...\n" +
		"#...#..##...\n" +
		"#...#...#...\n" +
		"#####...#...\n" +
		"#...#...#...\n" +
		"#...#...#...\n" +
		"#...#..###..\n" +
		"............\n"
	if b.String() != want {
		t.Errorf("drawn:\n%swant:\n%s", b.String(), want)
	}
	Draw(img, 10, 4, "W", color.White, color.Black) // clipped, no panic
}
