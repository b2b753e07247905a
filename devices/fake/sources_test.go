package fake_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/sensors"
)

// clock is a fake clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }
func one() sensors.Description       { return sensors.Description{Unit: "°C"} }
func two() sensors.Description       { return sensors.Description{Dimensions: sensors.Labels("a", "b")} }
func readings(t *testing.T, d *fake.Driver, n, dims int) [][]float64 {
	t.Helper()
	var out [][]float64
	for range n {
		out = append(out, read(t, d, dims))
	}
	return out
}

func TestRandomWalk(t *testing.T) {
	a := readings(t, fake.RandomWalk(two(), 42, 0.5, 10, 12), 200, 2)
	b := readings(t, fake.RandomWalk(two(), 42, 0.5, 10, 12), 200, 2)
	c := readings(t, fake.RandomWalk(two(), 43, 0.5, 10, 12), 200, 2)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatal("the same seed gave two walks")
	}
	if slices.EqualFunc(a, c, slices.Equal) {
		t.Fatal("two seeds gave the same walk")
	}
	if !slices.Equal(a[0], []float64{11, 11}) {
		t.Fatalf("first reading %v, want the middle of the range", a[0])
	}
	moved := false
	for i, r := range a {
		for k, x := range r {
			if x < 10 || x > 12 {
				t.Fatalf("reading %d: %v outside [10, 12]", i, r)
			}
			if i > 0 {
				if d := x - a[i-1][k]; d > 0.5 || d < -0.5 {
					t.Fatalf("reading %d moved by %v, more than the step", i, d)
				}
				moved = moved || x != a[i-1][k]
			}
		}
	}
	if !moved {
		t.Fatal("the walk never moved")
	}
	if r := readings(t, fake.RandomWalk(one(), 1, 0, 5, 5), 3, 1); !slices.Equal(r[2], []float64{5}) {
		t.Fatalf("a walk in a point: %v", r)
	}
}

func TestStep(t *testing.T) {
	c := newClock()
	d := fake.Step(one(), time.Minute, []float64{18}, []float64{22}, []float64{25}).SetClock(c.now)
	var got []float64
	for range 8 {
		got = append(got, read(t, d, 1)[0])
		c.add(30 * time.Second)
	}
	if want := []float64{18, 18, 22, 22, 25, 25, 18, 18}; !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
}

func TestSineWithClock(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	d := fake.Sine(one(), 4*time.Second, 0, 10).SetClock(c.now)
	var got []float64
	for range 4 {
		got = append(got, read(t, d, 1)[0])
		c.add(time.Second)
	}
	want := []float64{5, 10, 5, 0}
	for i := range want {
		if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("sine %v, want %v", got, want)
		}
	}
}

const recorded = `time,temperature,humidity
0,20.5,40
1.5,21,41
3,22.25,43
`

func TestReplayCSV(t *testing.T) {
	series, err := fake.ReadCSV(strings.NewReader(recorded))
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 3 || series[1].At != 1500*time.Millisecond || !slices.Equal(series[2].Reading, []float64{22.25, 43}) {
		t.Fatalf("series %+v", series)
	}
	c := newClock()
	d := fake.Replay(two(), series, false).SetClock(c.now)
	var got [][]float64
	for range 5 {
		got = append(got, read(t, d, 2))
		c.add(time.Second)
	}
	want := [][]float64{{20.5, 40}, {20.5, 40}, {21, 41}, {22.25, 43}, {22.25, 43}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("replay %v, want %v", got, want)
	}

	// Looping: the last sample lasts 1.5 s like the one before, then the
	// series starts again, at 4.5 s.
	c = newClock()
	d = fake.Replay(two(), series, true).SetClock(c.now)
	var temps []float64
	for range 7 {
		temps = append(temps, read(t, d, 2)[0])
		c.add(750 * time.Millisecond)
	}
	if want := []float64{20.5, 20.5, 21, 21, 22.25, 22.25, 20.5}; !slices.Equal(temps, want) {
		t.Fatalf("looped replay %v, want %v", temps, want)
	}
}

func TestReadCSVTimestampsAndErrors(t *testing.T) {
	series, err := fake.ReadCSV(strings.NewReader("2026-11-26T12:00:00Z,1\n# a comment\n2026-11-26T12:00:10Z, 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if series[0].At != 0 || series[1].At != 10*time.Second || series[1].Reading[0] != 2 {
		t.Fatalf("series %+v", series)
	}
	for in, sub := range map[string]string{
		"":                            "no samples",
		"0,1\nlater,2\n":              "row 2",
		"0,1\n1,x\n":                  `value "x"`,
		"0,1\n1,1,2\n":                "2 values, earlier rows have 1",
		"2,1\n1,1\n":                  "time goes back",
		"0\n":                         "at least one value",
		"0,1\n2026-11-26T12:00:00Z,2": "mixes",
		"0,NaN\n":                     "finite",
	} {
		_, err := fake.ReadCSV(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Errorf("ReadCSV(%q) = %v, want an error with %q", in, err, sub)
		}
	}
}
