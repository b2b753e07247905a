package fake_test

import (
	"context"
	"errors"
	"fmt"

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
