package ds18b20_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kervi/kervi-go/devices/ds18b20"
)

// On a Pi with "dtoverlay=w1-gpio", the kernel lists the chip under
// /sys/bus/w1/devices; a module's setup opens it by its id and makes it a
// sensor (sensors.New(bus, "water", "Water", dev)). Here a directory laid
// out as the kernel does stands in for /sys.
func Example() {
	root, _ := os.MkdirTemp("", "w1")
	defer os.RemoveAll(root)
	os.MkdirAll(filepath.Join(root, "28-0316a2793fff"), 0o755)
	os.WriteFile(filepath.Join(root, "28-0316a2793fff", "w1_slave"),
		[]byte("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"), 0o644)

	dev, err := ds18b20.OpenSysfs("28-0316a2793fff", ds18b20.SysfsRoot(root))
	if err != nil {
		fmt.Println(err)
		return
	}
	t := make([]float64, 1)
	if err := dev.Read(context.Background(), t); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.3f °C\n", t[0])
	// Output: 23.125 °C
}

// A missing chip is an error that says where it was looked for.
func ExampleOpenSysfs_missing() {
	_, err := ds18b20.OpenSysfs("28-0316a2793fff", ds18b20.SysfsRoot("/nonexistent"))
	fmt.Println(err != nil)
	// Output: true
}
