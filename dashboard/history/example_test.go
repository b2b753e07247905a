package history_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/dashboard/history"
)

func Example() {
	// Keep a day of each value by default, at most 100 points; a week of
	// the greenhouse's temperatures.
	store, err := history.NewMemory(
		history.MaxPoints(100),
		history.MaxAge(24*time.Hour),
		history.Limit("greenhouse.*.temp", 0, 7*24*time.Hour),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	// The dashboard appends each number value event: a noisy sensor with
	// one spike.
	start := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i, v := range []float64{20, 21, 20, 35, 21, 20, 19, 20, 21, 20} {
		store.Append("greenhouse.north.temp", history.Point{Time: start.Add(time.Duration(i) * time.Second), Value: v})
	}

	// A chart loads the last hour, with room for 6 points: the first and
	// the last, and the least and the greatest of each of 2 buckets.
	ps, err := store.Query(context.Background(), "greenhouse.north.temp", time.Now().Add(-time.Hour), time.Now(), 6)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range ps {
		fmt.Printf("+%v %v\n", p.Time.Sub(start), p.Value)
	}
	// Output:
	// +0s 20
	// +2s 20
	// +3s 35
	// +6s 19
	// +8s 21
	// +9s 20
}
