package host_test

import (
	"fmt"

	"github.com/kervi/kervi-go/devices/host"
)

type thermometer struct{ name string }

// On a machine without a supported board (a laptop), Auto makes fakes; on
// a Raspberry Pi it opens the chip, and a missing chip is an error.
func ExampleChoose() {
	info := host.Info{Mode: host.Auto, Board: host.Board{}} // as host.Setup returns on a laptop
	dev, err := host.Choose(info, "ds18b20 on 1-wire bus w1",
		func() (*thermometer, error) { return nil, fmt.Errorf("ds18b20 on 1-wire bus w1: no device") },
		func() *thermometer { return &thermometer{name: "fake ds18b20"} })
	fmt.Println(dev.name, err)
	// Output: fake ds18b20 <nil>
}
