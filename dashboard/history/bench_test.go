package history

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAppend appends to full rings of 10,000 points, round-robin over
// ids, and reports the heap per stored point.
func BenchmarkAppend(b *testing.B) {
	for _, ids := range []int{1, 100} {
		b.Run(fmt.Sprint("ids=", ids), func(b *testing.B) {
			names := make([]string, ids)
			for i := range names {
				names[i] = fmt.Sprint("greenhouse.sensor", i, ".temp")
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, err := NewMemory(MaxAge(0), MaxTotalPoints(10_000_000))
			if err != nil {
				b.Fatal(err)
			}
			base := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := m.Append(names[i%ids], Point{base.Add(time.Duration(i) * time.Millisecond), float64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			if n := m.Stats().Points; n > 0 {
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "bytes/point")
			}
			runtime.KeepAlive(m)
		})
	}
}

// BenchmarkQuery queries a whole ring of 10,000 points, raw and
// downsampled to a chart of 500 points.
func BenchmarkQuery(b *testing.B) {
	m, err := NewMemory(MaxAge(0))
	if err != nil {
		b.Fatal(err)
	}
	base := time.Now()
	for i := range 10_000 {
		m.Append("a", Point{base.Add(time.Duration(i) * time.Second), float64(i % 97)})
	}
	ctx := context.Background()
	for _, max := range []int{0, 500} {
		b.Run(fmt.Sprint("points=10000/max=", max), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Query(ctx, "a", time.Time{}, maxTime, max); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("points=10000/range=100", func(b *testing.B) {
		b.ReportAllocs()
		from := base.Add(5000 * time.Second)
		for b.Loop() {
			if _, err := m.Query(ctx, "a", from, from.Add(99*time.Second), 500); err != nil {
				b.Fatal(err)
			}
		}
	})
}
