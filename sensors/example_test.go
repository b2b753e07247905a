package sensors_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
)

// demoBus returns the bus of a module on a test hub (in an application,
// kervi hands it to the module's setup), and a function that stops it.
func demoBus(module string) (*ipc.Bus, func()) {
	h := ipctest.New()
	bus, err := h.Connect(module)
	if err != nil {
		panic(err)
	}
	return bus, h.Close
}

func Example() {
	bus, stop := demoBus("demo")
	defer stop()

	drv := fake.New(sensors.Description{Unit: "°C", Min: new(-40.0), Max: new(125.0)}, []float64{21.5})
	s := sensors.New(bus, "room.temp", "Room temperature", drv, sensors.Interval(10*time.Second))
	// The sensor polls once the module has started; Poll reads at once. A
	// sensor that could not be made returns its error from Poll (and Err),
	// and fails the module's setup.
	if err := s.Poll(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Value().ID(), s.Value().Value(), s.Value().Unit())
	// Output: room.temp 21.5 °C
}

func Example_dimensions() {
	bus, stop := demoBus("demo")
	defer stop()

	desc := sensors.Description{Unit: "g", Dimensions: sensors.Labels("x", "y", "z")}
	s := sensors.New(bus, "accel", "Accelerometer", fake.New(desc, []float64{0, 0.1, 1}))
	if err := s.Poll(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range s.Values() {
		fmt.Printf("%s (%s): %g %s\n", v.ID(), v.Name(), v.Value(), v.Unit())
	}
	// Output:
	// accel.x (Accelerometer x): 0 g
	// accel.y (Accelerometer y): 0.1 g
	// accel.z (Accelerometer z): 1 g
}

// A DHT22 measures humidity and temperature: each dimension has its own
// unit and range.
func ExampleDimension() {
	bus, stop := demoBus("demo")
	defer stop()

	desc := sensors.Description{Dimensions: []sensors.Dimension{
		{Label: "humidity", Name: "Humidity", Unit: "%", Min: new(0.0), Max: new(100.0)},
		{Label: "temperature", Name: "Temperature", Unit: "°C", Min: new(-40.0), Max: new(80.0)},
	}}
	s := sensors.New(bus, "dht22", "DHT22", fake.New(desc, []float64{45, 21.5}))
	if err := s.Poll(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range s.Values() {
		lo, _ := v.Min()
		hi, _ := v.Max()
		fmt.Printf("%s (%s): %g %s in [%g, %g]\n", v.ID(), v.Name(), v.Value(), v.Unit(), lo, hi)
	}
	// Output:
	// dht22.humidity (Humidity): 45 % in [0, 100]
	// dht22.temperature (Temperature): 21.5 °C in [-40, 80]
}

func ExampleSensor_Fault() {
	bus, stop := demoBus("demo")
	defer stop()

	drv := fake.New(sensors.Description{Unit: "%", Min: new(0.0), Max: new(100.0)}, []float64{140})
	s := sensors.New(bus, "humidity", "Humidity", drv)
	s.Poll(context.Background())
	fmt.Println(s.Faulty())
	fmt.Println(s.Fault())
	// Output:
	// true
	// sensors: sensor "humidity": reading: kervi: "humidity": 140 is outside the range [0, 100] (module "demo")
}

// doorbell is a driver whose device pushes readings: each press arrives
// on a channel (in a real driver, a GPIO edge).
type doorbell struct{ presses chan float64 }

func (d doorbell) Describe() sensors.Description { return sensors.Description{Unit: "presses"} }

func (d doorbell) Read(ctx context.Context, dst []float64) error {
	return fmt.Errorf("doorbell: not polled")
}

func (d doorbell) Watch(ctx context.Context, emit func([]float64)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-d.presses:
			emit([]float64{n})
		}
	}
}

// A sensor driven by its device's events alone: Interval(0), and a driver
// that implements Watcher.
func ExampleWatcher() {
	h := ipctest.New()
	defer h.Close()
	bell := doorbell{presses: make(chan float64)}
	seen := make(chan float64, 10)
	_, err := h.Module("door", func(ctx context.Context, bus *ipc.Bus) error {
		s := sensors.New(bus, "door.bell", "Doorbell", bell, sensors.Interval(0))
		s.Value().OnChange(func(_ context.Context, n float64) { seen <- n })
		return s.Err()
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range []float64{1, 2} {
		bell.presses <- n
		fmt.Println("pressed", <-seen, "times")
	}
	// Output:
	// pressed 1 times
	// pressed 2 times
}
