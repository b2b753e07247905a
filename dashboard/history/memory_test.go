package history

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for Clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(sec int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t0.Add(time.Duration(sec) * time.Second)
}

// newMemory returns a Memory whose clock is at t0+sec s, and the clock.
func newMemory(t *testing.T, sec int, opts ...Option) (*Memory, *clock) {
	t.Helper()
	c := &clock{}
	c.Set(sec)
	m, err := NewMemory(append([]Option{Clock(c.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, c
}

func mustAppend(t *testing.T, m *Memory, id string, ps ...Point) {
	t.Helper()
	for _, p := range ps {
		if err := m.Append(id, p); err != nil {
			t.Fatalf("Append(%q, %v): %v", id, p, err)
		}
	}
}

// all returns every point of id.
func all(t *testing.T, m *Memory, id string) []Point {
	t.Helper()
	ps, err := m.Query(context.Background(), id, time.Time{}, maxTime, 0)
	if err != nil {
		t.Fatalf("Query(%q): %v", id, err)
	}
	return ps
}

func TestQueryRange(t *testing.T) {
	m, _ := newMemory(t, 100)
	mustAppend(t, m, "a", seq(0, 1, 2, 3, 4, 5)...)
	ctx := context.Background()
	tests := []struct {
		name     string
		from, to time.Time
		max      int
		want     []Point
	}{
		{"all", time.Time{}, maxTime, 0, seq(0, 1, 2, 3, 4, 5)},
		{"inclusive", at(1, 0).Time, at(3, 0).Time, 0, []Point{at(1, 1), at(2, 2), at(3, 3)}},
		{"between points", at(1, 0).Time.Add(time.Millisecond), at(3, 0).Time.Add(-time.Millisecond), 0, []Point{at(2, 2)}},
		{"one instant", at(4, 0).Time, at(4, 0).Time, 0, []Point{at(4, 4)}},
		{"before", t0.Add(-time.Hour), t0.Add(-time.Second), 0, nil},
		{"after", at(6, 0).Time, at(60, 0).Time, 0, nil},
		{"downsampled", time.Time{}, maxTime, 2, []Point{at(0, 0), at(5, 5)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Query(ctx, "a", tc.from, tc.to, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	if got, err := m.Query(ctx, "unknown", time.Time{}, maxTime, 0); got != nil || err != nil {
		t.Errorf("unknown id: %v, %v; want no points, no error", got, err)
	}
	if _, err := m.Query(ctx, "a", at(2, 0).Time, at(1, 0).Time, 0); !errors.Is(err, ErrInvalidRange) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("from after to: %v; want ErrInvalidRange naming the id", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Query(cctx, "a", time.Time{}, maxTime, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestAppendOrder(t *testing.T) {
	m, _ := newMemory(t, 100)
	mustAppend(t, m, "a", at(1, 1), at(2, 2))

	// A restarted module republishes its last value with its old time:
	// the value is replaced, the history does not grow.
	mustAppend(t, m, "a", at(2, 20))
	// An older point is refused and changes nothing.
	err := m.Append("a", at(1, 10))
	if !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("older point: %v; want ErrOutOfOrder naming the id", err)
	}
	want := []Point{at(1, 1), at(2, 20)}
	if got := all(t, m, "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if st := m.Stats(); st.Points != 2 {
		t.Errorf("Stats().Points = %d, want 2", st.Points)
	}
}

func TestAppendRefused(t *testing.T) {
	m, _ := newMemory(t, 100)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := m.Append("room.temp", Point{t0, v})
		if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), `"room.temp"`) {
			t.Errorf("Append(%v): %v; want ErrInvalidValue naming the id", v, err)
		}
	}
	if err := m.Append("", Point{t0, 1}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("empty id: %v; want ErrInvalidID", err)
	}
	if st := m.Stats(); st.IDs != 0 || st.Points != 0 {
		t.Errorf("Stats = %+v; want empty", st)
	}
}

func TestMaxPoints(t *testing.T) {
	m, _ := newMemory(t, 1000, MaxPoints(3))
	mustAppend(t, m, "a", seq(0, 1, 2, 3, 4)...)
	if got, want := all(t, m, "a"), []Point{at(2, 2), at(3, 3), at(4, 4)}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if st := m.Stats(); st.Points != 3 {
		t.Errorf("Stats().Points = %d, want 3", st.Points)
	}
}

func TestMaxAge(t *testing.T) {
	m, c := newMemory(t, 0, MaxAge(10*time.Second))
	mustAppend(t, m, "a", seq(0, 1, 2, 3, 4, 5)...) // 0..5 s
	c.Set(13)
	// Query leaves out what is older than 3 s.
	if got, want := all(t, m, "a"), []Point{at(3, 3), at(4, 4), at(5, 5)}; !reflect.DeepEqual(got, want) {
		t.Errorf("at 13 s: got %v, want %v", got, want)
	}
	// Append drops it.
	mustAppend(t, m, "a", at(13, 13))
	if st := m.Stats(); st.Points != 4 {
		t.Errorf("after Append at 13 s: %d points, want 4", st.Points)
	}
	// A point already too old is not stored, and is no error.
	mustAppend(t, m, "b", at(1, 1))
	if st := m.Stats(); st.IDs != 1 {
		t.Errorf("a too old point made id b: %+v", st)
	}
}

func TestStaleIDForgotten(t *testing.T) {
	m, c := newMemory(t, 0, MaxAge(10*time.Second))
	mustAppend(t, m, "old", at(0, 1))
	mustAppend(t, m, "new", at(0, 1))
	c.Set(20)
	// The least recently updated id, all of whose points are too old, is
	// forgotten by the next Append of another id.
	mustAppend(t, m, "new", at(20, 2))
	if st := m.Stats(); st.IDs != 1 || st.EvictedIDs != 1 {
		t.Errorf("Stats = %+v; want 1 id, 1 evicted", st)
	}
	if got := all(t, m, "old"); got != nil {
		t.Errorf("old: %v", got)
	}
}

func TestLimit(t *testing.T) {
	m, c := newMemory(t, 0,
		MaxPoints(5), MaxAge(time.Hour),
		Limit("greenhouse.fan.speed", 0, -1), // no age bound, global count
		Limit("greenhouse.>", 2, 0),          // first match wins over this
		Limit("*.temp", 0, 10*time.Second),
	)
	for _, id := range []string{"greenhouse.fan.speed", "greenhouse.light", "room.temp", "room.humidity"} {
		mustAppend(t, m, id, seq(0, 1, 2, 3, 4, 5, 6)...)
	}
	c.Set(2 * 3600)
	mustAppend(t, m, "greenhouse.fan.speed", at(7200, 7))
	mustAppend(t, m, "room.temp", at(7195, 8))
	c.Set(7200 + 5)
	tests := []struct {
		id   string
		want []Point
	}{
		{"greenhouse.fan.speed", []Point{at(3, 3), at(4, 4), at(5, 5), at(6, 6), at(7200, 7)}},
		{"greenhouse.light", nil}, // 2 points, an hour old
		{"room.temp", []Point{at(7195, 8)}},
		{"room.humidity", nil},
	}
	for _, tc := range tests {
		if got := all(t, m, tc.id); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.id, got, tc.want)
		}
	}
	m2, _ := newMemory(t, 0, Limit("greenhouse.>", 2, 0))
	mustAppend(t, m2, "greenhouse.light", seq(0, 1, 2, 3)...)
	if got, want := all(t, m2, "greenhouse.light"), []Point{at(2, 2), at(3, 3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("greenhouse.light: got %v, want %v", got, want)
	}
}

func TestMaxIDs(t *testing.T) {
	m, _ := newMemory(t, 100, MaxIDs(2))
	mustAppend(t, m, "a", at(0, 1))
	mustAppend(t, m, "b", at(0, 1))
	mustAppend(t, m, "a", at(1, 2)) // b is now the least recently updated
	mustAppend(t, m, "c", at(1, 1))
	if got := all(t, m, "b"); got != nil {
		t.Errorf("b kept: %v", got)
	}
	if got := all(t, m, "a"); len(got) != 2 {
		t.Errorf("a: %v", got)
	}
	if st := m.Stats(); st.IDs != 2 || st.Points != 3 || st.EvictedIDs != 1 {
		t.Errorf("Stats = %+v", st)
	}
	// A flood of new ids stays within the bound.
	for i := range 1000 {
		mustAppend(t, m, fmt.Sprint("flood.", i), at(2, 1))
	}
	if st := m.Stats(); st.IDs != 2 || st.Points != 2 {
		t.Errorf("after a flood: Stats = %+v", st)
	}
}

func TestMaxTotalPoints(t *testing.T) {
	m, _ := newMemory(t, 100, MaxTotalPoints(5))
	mustAppend(t, m, "a", at(0, 0), at(1, 1))
	mustAppend(t, m, "b", at(0, 0), at(1, 1), at(2, 2))
	// a is the least recently updated: it loses its oldest point, then,
	// empty, is forgotten.
	mustAppend(t, m, "b", at(3, 3))
	if got, want := all(t, m, "a"), []Point{at(1, 1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("a: got %v, want %v", got, want)
	}
	mustAppend(t, m, "b", at(4, 4))
	if got := all(t, m, "a"); got != nil {
		t.Errorf("a: got %v, want nothing", got)
	}
	// With one id left, it loses its own oldest.
	mustAppend(t, m, "b", at(5, 5))
	if got, want := all(t, m, "b"), []Point{at(1, 1), at(2, 2), at(3, 3), at(4, 4), at(5, 5)}; !reflect.DeepEqual(got, want) {
		t.Errorf("b: got %v, want %v", got, want)
	}
	if st := m.Stats(); st.IDs != 1 || st.Points != 5 || st.EvictedPoints != 3 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestForgetClose(t *testing.T) {
	m, _ := newMemory(t, 100)
	mustAppend(t, m, "a", at(0, 1))
	mustAppend(t, m, "b", at(0, 1))
	if err := m.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget("unknown"); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.IDs != 1 || st.Points != 1 {
		t.Errorf("Stats = %+v", st)
	}
	mustAppend(t, m, "a", at(0, 5)) // a new history
	if got, want := all(t, m, "a"), []Point{at(0, 5)}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for range 2 {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Append("a", at(1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := m.Query(context.Background(), "a", time.Time{}, maxTime, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if err := m.Forget("a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Forget after Close: %v", err)
	}
}

func TestOptionsInvalid(t *testing.T) {
	for _, o := range []Option{
		MaxPoints(0), MaxAge(-time.Second), MaxIDs(0), MaxTotalPoints(-1), Clock(nil),
		Limit("", 1, 0), Limit("a..b", 1, 0), Limit("a.>.b", 1, 0), Limit("a*", 1, 0), Limit("a", -1, 0),
	} {
		if _, err := NewMemory(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("NewMemory: %v; want ErrInvalidOption", err)
		}
	}
}

// TestRing checks order across wrapping, growth to the bound and
// shrinking, against a plain slice.
func TestRing(t *testing.T) {
	var r ring
	var want []sample
	check := func(step string) {
		t.Helper()
		got := make([]sample, r.n)
		r.copyTo(got, 0, r.n)
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: ring %v, want %v", step, got, want)
		}
		if len(r.buf) > 100 {
			t.Fatalf("%s: buffer of %d beyond the bound", step, len(r.buf))
		}
	}
	tm := int64(0)
	for round := range 3 {
		for range 250 {
			tm++
			r.push(sample{tm, float64(tm)}, 100)
			want = append(want, sample{tm, float64(tm)})
			if len(want) > 100 {
				want = want[1:]
			}
			check(fmt.Sprint("push in round ", round))
		}
		for k := 1; r.n > 0; k++ {
			k = min(k, r.n)
			r.dropOldest(k)
			want = want[k:]
			check(fmt.Sprint("drop in round ", round))
		}
		if len(r.buf) > minRing {
			t.Errorf("empty ring keeps a buffer of %d", len(r.buf))
		}
	}
}

// TestConcurrent runs writers, readers and Forget together; run with
// -race.
func TestConcurrent(t *testing.T) {
	m, err := NewMemory(MaxPoints(500), MaxIDs(8), MaxTotalPoints(2000))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Go(func() {
			base := time.Now()
			for i := range 2000 {
				id := fmt.Sprint("v", (w*2000+i)%10)
				err := m.Append(id, Point{base.Add(time.Duration(i) * time.Millisecond), float64(i)})
				if err != nil && !errors.Is(err, ErrOutOfOrder) {
					errs <- err
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for i := range 500 {
				ps, err := m.Query(ctx, fmt.Sprint("v", i%10), time.Time{}, maxTime, 50)
				if err != nil {
					errs <- err
					return
				}
				if len(ps) > 50 {
					errs <- fmt.Errorf("%d points, more than 50", len(ps))
					return
				}
				for j := 1; j < len(ps); j++ {
					if !ps[j-1].Time.Before(ps[j].Time) {
						errs <- fmt.Errorf("not in time order: %v", ps)
						return
					}
				}
				if i%50 == 0 {
					m.Forget(fmt.Sprint("v", i%10))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := checkInvariants(m); err != nil {
		t.Error(err)
	}
}
