package history

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// Memory is the in-memory Store: a ring buffer per id, bounded per id and
// in total (see the package doc). It is safe for concurrent use. Append
// is O(1) amortised; Query holds a read lock only while it copies the
// points of its range, and downsamples after.
type Memory struct {
	opts options

	mu      sync.RWMutex
	series  map[string]*series
	front   *series // most recently updated
	back    *series // least recently updated
	total   int
	closed  bool
	evicted Stats // EvictedIDs and EvictedPoints only
}

var _ Store = (*Memory)(nil)

// series is the history of one id, in the list of ids by last update.
type series struct {
	id         string
	ring       ring
	maxPoints  int
	maxAge     int64 // nanoseconds; 0: no age bound
	prev, next *series
}

// Stats says what a Memory holds.
type Stats struct {
	IDs    int // ids with at least one point
	Points int // points of all ids
	// EvictedIDs counts the ids forgotten because of MaxIDs or because all
	// their points were too old; EvictedPoints the points dropped because
	// of MaxTotalPoints. Neither counts what per-id bounds drop.
	EvictedIDs    uint64
	EvictedPoints uint64
}

// NewMemory returns an empty in-memory store configured by opts. The
// error wraps ErrInvalidOption and names the option at fault.
func NewMemory(opts ...Option) (*Memory, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Memory{opts: o, series: make(map[string]*series)}, nil
}

// Append adds p to the history of id; see Store.Append. A point already
// older than id's age bound is not stored, and is not an error.
func (m *Memory) Append(id string, p Point) error {
	if id == "" {
		return fmt.Errorf("%w: empty id", ErrInvalidID)
	}
	if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
		return fmt.Errorf("%w: %q: %v", ErrInvalidValue, id, p.Value)
	}
	t := nanos(p.Time)
	now := nanos(m.opts.now())

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	s := m.series[id]
	if s == nil {
		maxPoints, maxAge := m.bounds(id)
		if t < cutoff(now, maxAge) {
			return nil
		}
		for len(m.series) >= m.opts.maxIDs {
			m.evicted.EvictedIDs++
			m.remove(m.back)
		}
		s = &series{id: id, maxPoints: maxPoints, maxAge: maxAge}
		m.series[id] = s
	} else {
		if last := s.ring.newest(); t <= last.t {
			if t < last.t {
				return fmt.Errorf("%w: %q: %v is before the newest point, %v",
					ErrOutOfOrder, id, p.Time, time.Unix(0, last.t).UTC())
			}
			last.v = p.Value
			m.toFront(s)
			return nil
		}
		if t < cutoff(now, s.maxAge) {
			return nil
		}
	}
	if s.ring.push(sample{t, p.Value}, s.maxPoints) {
		m.total++
	}
	m.toFront(s)
	m.expire(s, now)
	for m.total > m.opts.maxTotal {
		// The back is not s unless s is the only id, and then it holds
		// more than one point since maxTotal >= 1.
		b := m.back
		b.ring.dropOldest(1)
		m.total--
		m.evicted.EvictedPoints++
		if b.ring.n == 0 {
			m.remove(b)
		}
	}
	// Forget the least recently updated id if all its points are too old.
	if b := m.back; b != s && b.maxAge > 0 && b.ring.newest().t < cutoff(now, b.maxAge) {
		m.evicted.EvictedIDs++
		m.remove(b)
	}
	return nil
}

// Query returns the points of id in [from, to]; see Store.Query. Points
// older than id's age bound are left out.
func (m *Memory) Query(ctx context.Context, id string, from, to time.Time, maxPoints int) ([]Point, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from.After(to) {
		return nil, fmt.Errorf("%w: %q: from %v is after to %v", ErrInvalidRange, id, from, to)
	}
	lo, hi := nanos(from), nanos(to)
	now := nanos(m.opts.now())

	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, ErrClosed
	}
	s := m.series[id]
	if s == nil {
		m.mu.RUnlock()
		return nil, nil
	}
	lo = max(lo, cutoff(now, s.maxAge))
	i, j := s.ring.search(lo), s.ring.n
	if hi < math.MaxInt64 {
		j = s.ring.search(hi + 1) // the first point after to
	}
	var raw []sample
	if i < j {
		raw = make([]sample, j-i)
		s.ring.copyTo(raw, i, j)
	}
	m.mu.RUnlock()

	if len(raw) == 0 {
		return nil, nil
	}
	if maxPoints <= 0 || len(raw) <= maxPoints {
		out := make([]Point, len(raw))
		for i, r := range raw {
			out[i] = Point{time.Unix(0, r.t).UTC(), r.v}
		}
		return out, nil
	}
	keep := downsample(raw, maxPoints)
	out := make([]Point, len(keep))
	for i, k := range keep {
		out[i] = Point{time.Unix(0, raw[k].t).UTC(), raw[k].v}
	}
	return out, nil
}

// Forget drops the history of id; see Store.Forget.
func (m *Memory) Forget(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if s := m.series[id]; s != nil {
		m.remove(s)
	}
	return nil
}

// Close drops every history; later calls return ErrClosed. It is
// idempotent and always returns nil.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.series, m.front, m.back, m.total = nil, nil, nil, 0
	return nil
}

// Stats returns what m holds.
func (m *Memory) Stats() Stats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st := m.evicted
	st.IDs, st.Points = len(m.series), m.total
	return st
}

// bounds returns the count and age bounds of a new id.
func (m *Memory) bounds(id string) (maxPoints int, maxAge int64) {
	maxPoints, maxAge = m.opts.maxPoints, int64(m.opts.maxAge)
	for _, l := range m.opts.limits {
		if !l.pattern.Match(id) {
			continue
		}
		if l.maxPoints > 0 {
			maxPoints = l.maxPoints
		}
		switch {
		case l.maxAge > 0:
			maxAge = int64(l.maxAge)
		case l.maxAge < 0:
			maxAge = 0
		}
		return maxPoints, maxAge // the first match applies
	}
	return maxPoints, maxAge
}

// expire drops the points of s older than its age bound.
func (m *Memory) expire(s *series, now int64) {
	if s.maxAge == 0 {
		return
	}
	c := cutoff(now, s.maxAge)
	k := s.ring.search(c)
	s.ring.dropOldest(k)
	m.total -= k
	if s.ring.n == 0 {
		m.remove(s)
	}
}

// cutoff is the oldest time a point of age bound maxAge may have at now,
// saturating at the int64 range.
func cutoff(now, maxAge int64) int64 {
	if maxAge == 0 || now < math.MinInt64+maxAge {
		return math.MinInt64
	}
	return now - maxAge
}

// toFront moves s, perhaps not yet in the list, to its front.
func (m *Memory) toFront(s *series) {
	if m.front == s {
		return
	}
	m.unlink(s)
	s.next = m.front
	if m.front != nil {
		m.front.prev = s
	}
	m.front = s
	if m.back == nil {
		m.back = s
	}
}

// unlink takes s out of the list, if it is in it.
func (m *Memory) unlink(s *series) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if m.front == s {
		m.front = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else if m.back == s {
		m.back = s.prev
	}
	s.prev, s.next = nil, nil
}

// remove forgets s.
func (m *Memory) remove(s *series) {
	m.unlink(s)
	m.total -= s.ring.n
	delete(m.series, s.id)
}
