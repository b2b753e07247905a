package fake_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/sensors"
)

func Example() {
	d := fake.New(sensors.Description{Unit: "°C"}, []float64{20}, []float64{21})
	dst := make([]float64, 1)
	for range 3 {
		d.Read(context.Background(), dst)
		fmt.Println(dst[0])
	}
	d.Fail(errors.New("sensor unplugged"))
	fmt.Println(d.Read(context.Background(), dst))
	d.Fail(nil)
	d.Set(25)
	d.Read(context.Background(), dst)
	fmt.Println(dst[0], d.Reads())
	// Output:
	// 20
	// 21
	// 21
	// sensor unplugged
	// 25 5
}

// A recorded series, played back against a clock of the test's own.
func ExampleReplay() {
	series, err := fake.ReadCSV(strings.NewReader("time,lux\n0,120\n60,340\n120,90\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	d := fake.Replay(sensors.Description{Unit: "lx"}, series, true).SetClock(func() time.Time { return now })
	dst := make([]float64, 1)
	for range 4 {
		d.Read(context.Background(), dst)
		fmt.Println(dst[0])
		now = now.Add(time.Minute)
	}
	// Output:
	// 120
	// 340
	// 90
	// 120
}

// A random walk is the same walk for the same seed.
func ExampleRandomWalk() {
	d := fake.RandomWalk(sensors.Description{Unit: "%"}, 7, 1, 0, 100)
	dst := make([]float64, 1)
	d.Read(context.Background(), dst)
	fmt.Println(dst[0])
	// Output: 50
}
