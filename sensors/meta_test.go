package sensors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/fake"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/sensors"
)

// Meta applies to the sensor's entry: the sensor entry of a sensor with
// several dimensions, the value of a sensor with one.
func TestMeta(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	if _, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		sensors.New(bus, "cpu", "CPU", fake.New(sensors.Description{Unit: "%"}, []float64{1}),
			sensors.Meta("dashboard", "one"))
		sensors.New(bus, "accel", "Accel", fake.New(sensors.Description{Dimensions: sensors.Labels("x", "y")}, []float64{1, 2}),
			sensors.Meta("dashboard", "two"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	obs, err := h.Module("obs", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for id, want := range map[string]string{"cpu": "one", "accel": "two", "accel.x": "", "accel.y": ""} {
		d, err := obs.Describe(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Meta["dashboard"] != want {
			t.Errorf("%s: meta %v; want dashboard %q", id, d.Meta, want)
		}
	}
}

func TestMetaInvalid(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	var s *sensors.Sensor
	_, err := h.Module("m", func(ctx context.Context, bus *ipc.Bus) error {
		s = sensors.New(bus, "cpu", "CPU", fake.New(sensors.Description{}, []float64{1}), sensors.Meta("", "v"))
		return nil
	})
	if err == nil {
		t.Fatal("the setup succeeded")
	}
	for _, s := range []string{`"cpu"`, `metadata key ""`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if s.Err() == nil {
		t.Error("the sensor has no error")
	}
}
