package history

import (
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// seq returns points at t0+i s with the values vs.
func seq(vs ...float64) []Point {
	ps := make([]Point, len(vs))
	for i, v := range vs {
		ps[i] = Point{t0.Add(time.Duration(i) * time.Second), v}
	}
	return ps
}

// at returns the point at t0+sec s.
func at(sec int, v float64) Point { return Point{t0.Add(time.Duration(sec) * time.Second), v} }

func TestDownsample(t *testing.T) {
	spiky := seq(0, 1, 2, 3, 100, 5, 6, -50, 8, 9)
	tests := []struct {
		name      string
		in        []Point
		maxPoints int
		want      []Point
	}{
		{"no limit", spiky, 0, spiky},
		{"fits", spiky, 10, spiky},
		{"empty", nil, 4, nil},
		{"one: the last", spiky, 1, []Point{at(9, 9)}},
		{"two: first and last", spiky, 2, []Point{at(0, 0), at(9, 9)}},
		{"three: no bucket yet", spiky, 3, []Point{at(0, 0), at(9, 9)}},
		// Interior t=1..8 over span 9 in 2 buckets: floor(t*2/9) puts
		// 1..4 in bucket 0 (min 1 at 1, max 100 at 4) and 5..8 in bucket
		// 1 (min -50 at 7, max 8 at 8): both spikes survive.
		{"spikes kept", spiky, 6, []Point{at(0, 0), at(1, 1), at(4, 100), at(7, -50), at(8, 8), at(9, 9)}},
		// An odd maxPoints leaves one slot unused: (7-2)/2 = 2 buckets.
		{"odd", spiky, 7, []Point{at(0, 0), at(1, 1), at(4, 100), at(7, -50), at(8, 8), at(9, 9)}},
		// 3 buckets of width 3 s: floor(t/3) puts 1,2 in bucket 0, 3,4,5
		// in bucket 1 and 6,7,8 in bucket 2; 5 and 6 are neither.
		{"three buckets", spiky, 9, []Point{
			at(0, 0), at(1, 1), at(2, 2), at(3, 3), at(4, 100), at(7, -50), at(8, 8), at(9, 9),
		}},
		// A max before its min is returned in time order.
		{"max before min", seq(0, 9, 1, 8, -7, 5), 4, []Point{at(0, 0), at(1, 9), at(4, -7), at(5, 5)}},
		// A flat bucket gives one point, the earliest.
		{"flat", seq(1, 2, 2, 2, 2, 1), 4, []Point{at(0, 1), at(1, 2), at(5, 1)}},
		// A gap: 4 buckets of 25 s over 0..100; floor(t/25) puts 1..5 in
		// bucket 0 and 95..98 in bucket 3; buckets 1 and 2 give nothing.
		{"gap", []Point{
			at(0, 0), at(1, 5), at(2, 6), at(3, 7), at(4, 8), at(5, 9),
			at(95, 4), at(96, 3), at(97, 2), at(98, 1), at(100, 0),
		}, 10, []Point{at(0, 0), at(1, 5), at(5, 9), at(95, 4), at(98, 1), at(100, 0)}},
		// Times equal to the last (Downsample's input may hold them) fall
		// in the last bucket rather than past it.
		{"equal times", []Point{at(0, 0), at(1, 3), at(2, 1), at(2, 2), at(2, 5)}, 4,
			[]Point{at(0, 0), at(1, 3), at(2, 1), at(2, 5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Downsample(tc.in, tc.maxPoints)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Downsample(%d) =\n%v\nwant\n%v", tc.maxPoints, got, tc.want)
			}
			if tc.maxPoints > 0 && len(got) > tc.maxPoints {
				t.Errorf("%d points, more than %d", len(got), tc.maxPoints)
			}
		})
	}
}

// TestDownsampleProperties checks random series: at most maxPoints points,
// in time order, a subset of the input, with the first, the last, the
// least and the greatest kept.
func TestDownsampleProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		n := 1 + rng.IntN(300)
		in := make([]Point, n)
		tm := t0
		lo, hi := 0, 0
		for i := range in {
			tm = tm.Add(time.Duration(1+rng.IntN(5000)) * time.Millisecond)
			in[i] = Point{tm, rng.NormFloat64()}
			if in[i].Value < in[lo].Value {
				lo = i
			}
			if in[i].Value > in[hi].Value {
				hi = i
			}
		}
		maxPoints := 1 + rng.IntN(60)
		out := Downsample(in, maxPoints)
		if len(out) > maxPoints {
			t.Fatalf("n=%d max=%d: %d points", n, maxPoints, len(out))
		}
		if out[len(out)-1] != in[n-1] {
			t.Fatalf("n=%d max=%d: last point lost", n, maxPoints)
		}
		if maxPoints == 1 {
			continue
		}
		kept := map[Point]bool{}
		for i, p := range out {
			kept[p] = true
			if i > 0 && !out[i-1].Time.Before(p.Time) {
				t.Fatalf("n=%d max=%d: not in time order", n, maxPoints)
			}
		}
		for _, want := range []int{0, lo, hi} {
			if !kept[in[want]] && (maxPoints >= 4 || want == 0) {
				t.Fatalf("n=%d max=%d: point %d (%v) lost", n, maxPoints, want, in[want])
			}
		}
	}
}
