package sensors

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const s, m = time.Second, time.Minute
	cases := []struct {
		interval, limit time.Duration
		failures        int
		want            time.Duration
	}{
		{s, m, 1, s},
		{s, m, 2, 2 * s},
		{s, m, 3, 4 * s},
		{s, m, 6, 32 * s},
		{s, m, 7, m},
		{s, m, 1000, m},
		{s, s, 5, s},
		{2 * s, s, 1, s}, // New raises such a limit to the interval
		{time.Hour, math.MaxInt64, 100, math.MaxInt64},
		{time.Nanosecond, math.MaxInt64, 62, 1 << 61},
		{time.Nanosecond, math.MaxInt64, 64, math.MaxInt64},
	}
	for _, c := range cases {
		if got := backoff(c.interval, c.limit, c.failures); got != c.want {
			t.Errorf("backoff(%v, %v, %d) = %v, want %v", c.interval, c.limit, c.failures, got, c.want)
		}
	}
	// Delays never shrink as failures add up.
	prev := time.Duration(0)
	for n := 1; n < 100; n++ {
		d := backoff(3*time.Millisecond, time.Hour, n)
		if d < prev || d <= 0 {
			t.Fatalf("backoff after %d failures is %v, after %d it was %v", n, d, n-1, prev)
		}
		prev = d
	}
}

func TestDescriptionClone(t *testing.T) {
	d := Description{Unit: "g", Min: new(-1.0), Max: new(1.0), Labels: []string{"x", "y"}}
	c := d.Clone()
	*c.Min, *c.Max, c.Labels[0] = -2, 2, "z"
	if *d.Min != -1 || *d.Max != 1 || d.Labels[0] != "x" || c.Unit != "g" || c.Dimensions() != 2 {
		t.Fatalf("clone %+v shares memory with %+v", c, d)
	}
	if (Description{}).Clone().Min != nil || (Description{}).Dimensions() != 1 {
		t.Fatal("clone of the zero description")
	}
}
