package history

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// checkInvariants reports how m's bookkeeping disagrees with itself: the
// total and the points of each id, the list and the map, time order and
// the bounds.
func checkInvariants(m *Memory) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	total, listed := 0, 0
	var prev *series
	for s := m.front; s != nil; prev, s = s, s.next {
		listed++
		if s.prev != prev {
			return fmt.Errorf("%q: broken back link", s.id)
		}
		if m.series[s.id] != s {
			return fmt.Errorf("%q: listed, not in the map", s.id)
		}
		if s.ring.n == 0 || s.ring.n > s.maxPoints {
			return fmt.Errorf("%q: %d points, bound %d", s.id, s.ring.n, s.maxPoints)
		}
		for i := 1; i < s.ring.n; i++ {
			if s.ring.at(i-1).t >= s.ring.at(i).t {
				return fmt.Errorf("%q: points %d and %d out of order", s.id, i-1, i)
			}
		}
		total += s.ring.n
	}
	switch {
	case m.back != prev:
		return fmt.Errorf("back is not the last of the list")
	case listed != len(m.series):
		return fmt.Errorf("%d listed, %d in the map", listed, len(m.series))
	case total != m.total:
		return fmt.Errorf("total %d, ids hold %d", m.total, total)
	case len(m.series) > m.opts.maxIDs || m.total > m.opts.maxTotal:
		return fmt.Errorf("%d ids, %d points: beyond the totals", len(m.series), m.total)
	}
	return nil
}

// TestRandomOps runs random Appends, Forgets and clock steps against small
// bounds and checks the bookkeeping after each.
func TestRandomOps(t *testing.T) {
	m, c := newMemory(t, 0, MaxPoints(7), MaxAge(20*time.Second), MaxIDs(5), MaxTotalPoints(17),
		Limit("k.>", 3, -1), Limit("*.x", 0, 5*time.Second))
	rng := rand.New(rand.NewPCG(1, 2))
	ids := []string{"a", "b", "c", "k.1", "k.2", "a.x", "b.x", "d", "e"}
	sec := 0
	for i := range 20_000 {
		switch r := rng.IntN(100); {
		case r < 3:
			m.Forget(ids[rng.IntN(len(ids))])
		case r < 20:
			sec += rng.IntN(4)
			c.Set(sec)
		default:
			// Mostly new points, some duplicates and late ones.
			_ = m.Append(ids[rng.IntN(len(ids))], at(sec-rng.IntN(3), float64(i)))
		}
		if err := checkInvariants(m); err != nil {
			t.Fatalf("after op %d: %v", i, err)
		}
	}
}
