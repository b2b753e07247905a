package history

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"time"
)

// Point is one sample of a number value: its time and its value.
type Point struct {
	Time  time.Time
	Value float64
}

// Store keeps the history of number values by id. Memory implements it;
// a durable store can replace it. Implementations are safe for
// concurrent use.
type Store interface {
	// Append adds a point to the history of id. A point older than the
	// newest of id is refused with ErrOutOfOrder; a point with the same
	// time as the newest replaces its value. A NaN or infinite value is
	// refused with ErrInvalidValue.
	Append(id string, p Point) error
	// Query returns the points of id with from <= Time <= to, in time
	// order, at most maxPoints of them when maxPoints > 0 (see
	// Downsample). An id with no history gives no points and no error.
	Query(ctx context.Context, id string, from, to time.Time, maxPoints int) ([]Point, error)
	// Forget drops the history of id. Forgetting an unknown id is not an
	// error.
	Forget(id string) error
	// Close releases the store; later calls return ErrClosed. Close is
	// idempotent.
	Close() error
}

// The errors of the package, matched with errors.Is. The errors returned
// wrap them and name the id or option at fault.
var (
	// ErrInvalidValue: a point's value is NaN or infinite.
	ErrInvalidValue = errors.New("kervi: history: invalid value")
	// ErrOutOfOrder: a point is older than the newest point of its id; it
	// was not stored.
	ErrOutOfOrder = errors.New("kervi: history: point out of order")
	// ErrInvalidID: the id is empty.
	ErrInvalidID = errors.New("kervi: history: invalid id")
	// ErrInvalidRange: a query's from is after its to.
	ErrInvalidRange = errors.New("kervi: history: invalid range")
	// ErrInvalidOption: an option of NewMemory is out of range or a Limit
	// pattern breaks the grammar.
	ErrInvalidOption = errors.New("kervi: history: invalid option")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("kervi: history: store closed")
)

// sample is a stored point: 16 bytes.
type sample struct {
	t int64 // Unix nanoseconds
	v float64
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// nanos is t in Unix nanoseconds, clamped to the int64 range, so that the
// zero time.Time means "since ever".
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Downsample reduces points, sorted by time, to at most maxPoints of them
// for a chart: with maxPoints <= 0 or no more points than maxPoints, it
// returns points itself; with maxPoints 1, the last point; otherwise the
// first and the last point, and between them, of each of (maxPoints-2)/2
// buckets of equal time width, the point with the least and the one with
// the greatest value, in time order (one point when they are the same;
// an empty bucket gives none). Of equal values, the earliest is kept. It
// is exported for other Store implementations; see the package doc for
// why min and max.
func Downsample(points []Point, maxPoints int) []Point {
	if maxPoints <= 0 || len(points) <= maxPoints {
		return points
	}
	s := make([]sample, len(points))
	for i, p := range points {
		s[i] = sample{nanos(p.Time), p.Value}
	}
	keep := downsample(s, maxPoints)
	out := make([]Point, len(keep))
	for i, k := range keep {
		out[i] = points[k]
	}
	return out
}

// downsample returns the indices of s to keep, as Downsample describes,
// for len(s) > maxPoints > 0.
func downsample(s []sample, maxPoints int) []int {
	n := len(s)
	if maxPoints == 1 {
		return []int{n - 1}
	}
	keep := make([]int, 0, maxPoints)
	keep = append(keep, 0)
	buckets := uint64((maxPoints - 2) / 2)
	if buckets > 0 {
		t0 := s[0].t
		span := uint64(s[n-1].t - t0) // sorted, so >= 0
		cur := uint64(0)
		lo, hi := -1, -1 // indices of the min and max of bucket cur
		flush := func() {
			if lo < 0 {
				return
			}
			switch {
			case lo == hi:
				keep = append(keep, lo)
			case lo < hi:
				keep = append(keep, lo, hi)
			default:
				keep = append(keep, hi, lo)
			}
			lo, hi = -1, -1
		}
		for i := 1; i < n-1; i++ {
			b := uint64(0)
			switch d := uint64(s[i].t - t0); {
			case span == 0:
			case d >= span: // a time equal to the last (or unsorted input)
				b = buckets - 1
			default:
				// floor(d*buckets/span) in 128 bits: d < span, so the
				// quotient is below buckets and Div64 cannot overflow.
				h, l := bits.Mul64(d, buckets)
				b, _ = bits.Div64(h, l, span)
			}
			if b != cur {
				flush()
				cur = b
			}
			if lo < 0 {
				lo, hi = i, i
				continue
			}
			if s[i].v < s[lo].v {
				lo = i
			}
			if s[i].v > s[hi].v {
				hi = i
			}
		}
		flush()
	}
	return append(keep, n-1)
}
