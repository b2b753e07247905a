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
	d := Description{Unit: "g", Min: new(-1.0), Max: new(1.0), Dimensions: []Dimension{{Label: "x", Max: new(2.0)}, {Label: "y"}}}
	c := d.Clone()
	*c.Min, *c.Max, c.Dimensions[0].Label, *c.Dimensions[0].Max = -2, 2, "z", 3
	if *d.Min != -1 || *d.Max != 1 || d.Dimensions[0].Label != "x" || *d.Dimensions[0].Max != 2 || c.Unit != "g" || c.Len() != 2 {
		t.Fatalf("clone %+v shares memory with %+v", c, d)
	}
	if (Description{}).Clone().Min != nil || (Description{}).Len() != 1 || (Description{}).Clone().Dimensions != nil {
		t.Fatal("clone of the zero description")
	}
}

func TestDescriptionDimension(t *testing.T) {
	d := Description{Unit: "°C", Min: new(-40.0), Max: new(80.0), Dimensions: []Dimension{
		{Label: "humidity", Name: "Humidity", Unit: "%", Min: new(0.0), Max: new(100.0)},
		{Label: "temperature"},
		{Label: "dew", Max: new(50.0)},
	}}
	h, tmp, dew := d.Dimension(0), d.Dimension(1), d.Dimension(2)
	if h.Label != "humidity" || h.Name != "Humidity" || h.Unit != "%" || *h.Min != 0 || *h.Max != 100 {
		t.Fatalf("humidity %+v", h)
	}
	if tmp.Name != "" || tmp.Unit != "°C" || *tmp.Min != -40 || *tmp.Max != 80 {
		t.Fatalf("temperature takes the description's unit and range: %+v", tmp)
	}
	if *dew.Min != -40 || *dew.Max != 50 {
		t.Fatalf("dew point takes the description's Min and its own Max: %+v", dew)
	}
	*tmp.Min = 0 // shares no memory with the description
	if *d.Min != -40 {
		t.Fatal("Dimension shares memory with the description")
	}
	one := Description{Unit: "lx"}.Dimension(0)
	if one.Label != "" || one.Unit != "lx" || one.Min != nil {
		t.Fatalf("the one dimension %+v", one)
	}
}
