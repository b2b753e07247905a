package pcf8574

import (
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/internal/expandertest"
)

// The expander's pins as devices/gpio values: a button input driven by
// (polled) edges and a relay output driven from another module.
func TestGPIOValues(t *testing.T) {
	d := Fake()
	d.SetPollInterval(time.Millisecond)
	expandertest.Values(t, d.Chip, d.Pin(7), 7, d.Pin(0), 0)
}
