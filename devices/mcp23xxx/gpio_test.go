package mcp23xxx

import (
	"testing"
	"time"

	"github.com/kervi/kervi-go/devices/internal/expandertest"
)

// The expander's pins as devices/gpio values: a button input driven by
// (polled) edges and a relay output driven from another module.
func TestGPIOValues(t *testing.T) {
	d := Fake(MCP23017)
	defer d.Close()
	d.SetPollInterval(time.Millisecond)
	expandertest.Values(t, d.Chip, d.Pin(15), 15, d.Pin(0), 0)
}
