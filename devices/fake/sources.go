package fake

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kervi/kervi-go/sensors"
)

// RandomWalk returns a driver whose dimensions each wander between lo and
// hi: every read moves each by a random amount in [-step, step], bouncing
// off the bounds, from the middle of the range at the first read. The
// walk is a function of seed and the number of reads only, so a test gets
// the same readings every run. It panics if lo > hi or step is negative.
func RandomWalk(desc sensors.Description, seed uint64, step, lo, hi float64) *Driver {
	if !(lo <= hi) || !(step >= 0) {
		panic(fmt.Sprintf("fake: RandomWalk: bad range [%g, %g] or step %g", lo, hi, step))
	}
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cur := make([]float64, desc.Len())
	for i := range cur {
		cur[i] = lo + (hi-lo)/2
	}
	first := true
	return Func(desc, func(time.Time) []float64 {
		mu.Lock()
		defer mu.Unlock()
		if !first {
			for i := range cur {
				x := cur[i] + (2*rng.Float64()-1)*step
				if x > hi {
					x = hi - (x - hi)
				}
				if x < lo {
					x = lo + (lo - x)
				}
				cur[i] = min(max(x, lo), hi)
			}
		}
		first = false
		return slices.Clone(cur)
	})
}

// Step returns a driver whose reading steps through levels, each held for
// period, then starts again: levels[0] from the first read, levels[1] one
// period later, and so on. Each level needs one number per dimension. It
// panics if period is not positive or there are no levels.
func Step(desc sensors.Description, period time.Duration, levels ...[]float64) *Driver {
	if period <= 0 || len(levels) == 0 {
		panic(fmt.Sprintf("fake: Step: period %v, %d levels", period, len(levels)))
	}
	ls := make([][]float64, len(levels))
	for i, l := range levels {
		ls[i] = slices.Clone(l)
	}
	var mu sync.Mutex
	var start time.Time
	return Func(desc, func(t time.Time) []float64 {
		mu.Lock()
		defer mu.Unlock()
		if start.IsZero() {
			start = t
		}
		n := int64(t.Sub(start) / period)
		if n < 0 {
			n = 0
		}
		return slices.Clone(ls[n%int64(len(ls))])
	})
}

// Sample is one reading of a recorded series, At after the series' start.
type Sample struct {
	At      time.Duration
	Reading []float64
}

// Replay returns a driver that plays a recorded series back in real time
// (or the driver's clock's): at each read, the reading of the last sample
// at or before the time since the first read (the first sample's before
// it). Past the last sample it keeps the last reading, or, if loop is set,
// holds it as long as the one before it and starts again. The
// samples must be in order of At, the first at 0 or later, each with one
// number per dimension. It panics if there are none.
func Replay(desc sensors.Description, series []Sample, loop bool) *Driver {
	if len(series) == 0 {
		panic("fake: Replay: empty series")
	}
	ss := make([]Sample, len(series))
	for i, s := range series {
		ss[i] = Sample{At: s.At, Reading: slices.Clone(s.Reading)}
	}
	// Looping, the last sample lasts as long as the one before it, then
	// the series starts again.
	cycle := ss[len(ss)-1].At
	if n := len(ss); n > 1 {
		cycle += ss[n-1].At - ss[n-2].At
	}
	var mu sync.Mutex
	var start time.Time
	return Func(desc, func(t time.Time) []float64 {
		mu.Lock()
		defer mu.Unlock()
		if start.IsZero() {
			start = t
		}
		el := max(t.Sub(start), 0)
		if loop && cycle > 0 {
			el %= cycle
		}
		i := max(lastAt(ss, el), 0)
		return slices.Clone(ss[i].Reading)
	})
}

// lastAt returns the index of the last sample at or before el, or -1.
func lastAt(ss []Sample, el time.Duration) int {
	i, _ := slices.BinarySearchFunc(ss, el, func(s Sample, el time.Duration) int {
		if s.At <= el {
			return -1
		}
		return 1
	})
	return i - 1
}

// ReadCSV reads a recorded series from CSV: one sample a row, "time,value"
// or "time,value1,value2,..." for several dimensions. The time is seconds
// (a decimal number, such as 0 or 1.5) or an RFC 3339 timestamp; samples
// are placed relative to the first row's. A first row whose time does not
// parse is a header, and skipped. Rows must be in order of time. Errors
// name the row.
func ReadCSV(r io.Reader) ([]Sample, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var out []Sample
	var t0 time.Time
	var s0 float64
	width := 0
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fake: csv: %w", err)
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("fake: csv row %d: %d fields, want time and at least one value", row, len(rec))
		}
		at, isTS, ok := parseTime(rec[0])
		if !ok {
			if row == 1 && len(out) == 0 {
				continue // a header
			}
			return nil, fmt.Errorf("fake: csv row %d: time %q is neither seconds nor RFC 3339", row, rec[0])
		}
		var rel time.Duration
		switch {
		case len(out) == 0 && isTS:
			t0 = at
		case len(out) == 0:
			s0 = float64(at.UnixNano()) / 1e9
		case isTS != !t0.IsZero():
			return nil, fmt.Errorf("fake: csv row %d: mixes timestamps and seconds", row)
		case isTS:
			rel = at.Sub(t0)
		default:
			rel = time.Duration((float64(at.UnixNano())/1e9 - s0) * 1e9)
		}
		vals := make([]float64, len(rec)-1)
		for i, f := range rec[1:] {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("fake: csv row %d: value %q is not a finite number", row, f)
			}
			vals[i] = v
		}
		if width == 0 {
			width = len(vals)
		} else if len(vals) != width {
			return nil, fmt.Errorf("fake: csv row %d: %d values, earlier rows have %d", row, len(vals), width)
		}
		if len(out) > 0 && rel < out[len(out)-1].At {
			return nil, fmt.Errorf("fake: csv row %d: time goes back", row)
		}
		out = append(out, Sample{At: rel, Reading: vals})
	}
	if len(out) == 0 {
		return nil, errors.New("fake: csv: no samples")
	}
	return out, nil
}

// parseTime parses seconds (returned as a time since the Unix epoch) or an
// RFC 3339 timestamp (isTS).
func parseTime(s string) (t time.Time, isTS, ok bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return time.Unix(0, int64(f*1e9)), false, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true, true
	}
	return time.Time{}, false, false
}
