package bus_test

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewirereg"
	"periph.io/x/conn/v3/onewire/onewiretest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/kervi/kervi-go/devices/bus"
	"github.com/kervi/kervi-go/devices/host"
)

func mustContain(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("error %q does not contain %q", err, s)
		}
	}
}

// register adds fake buses to periph's registries, as a host driver
// would, once host.Init has run (Init must not find them first: periph's
// registries refuse a second registration of a name).
func register(t *testing.T) {
	t.Helper()
	if _, err := host.Init(); err != nil {
		t.Fatal(err)
	}
	regs := []error{
		i2creg.Register("KERVITEST", []string{"/dev/i2c-test"}, 97, func() (i2c.BusCloser, error) {
			return &i2ctest.Playback{Ops: []i2ctest.IO{{Addr: 0x76, W: []byte{0xd0}, R: []byte{0x60}}}}, nil
		}),
		i2creg.Register("KERVIDENIED", nil, 98, func() (i2c.BusCloser, error) {
			return nil, errors.New("sysfs-i2c: are you member of group 'plugdev'? open /dev/i2c-98: permission denied")
		}),
		spireg.Register("KERVISPI", nil, -1, func() (spi.PortCloser, error) { return &spitest.Playback{}, nil }),
		onewirereg.Register("KERVIW1", nil, -1, func() (onewire.BusCloser, error) {
			return &onewiretest.Playback{Devices: []onewire.Address{0x7a00000131825228}}, nil
		}),
	}
	for _, err := range regs {
		if err != nil && !strings.Contains(err.Error(), "twice") && !strings.Contains(err.Error(), "already") {
			t.Fatal(err)
		}
	}
}

func TestOpenI2C(t *testing.T) {
	register(t)
	for _, name := range []string{"KERVITEST", "97", "/dev/i2c-test"} {
		b, err := bus.OpenI2C(name)
		if err != nil {
			t.Fatalf("OpenI2C(%q): %v", name, err)
		}
		r := make([]byte, 1)
		if err := b.Tx(0x76, []byte{0xd0}, r); err != nil || r[0] != 0x60 {
			t.Fatalf("chip id %#x, %v", r[0], err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := bus.OpenI2C("7")
	if !errors.Is(err, bus.ErrNoBus) {
		t.Fatalf("unknown bus: %v", err)
	}
	mustContain(t, err, `i2c bus "7"`, "no such bus", "KERVITEST (97)", "enable I2C")
	var e *bus.Error
	if !errors.As(err, &e) || e.Bus != "7" || e.Kind != bus.I2C {
		t.Fatalf("error %#v", err)
	}
	_, err = bus.OpenI2C("KERVIDENIED")
	if !errors.Is(err, bus.ErrPermission) {
		t.Fatalf("denied bus: %v", err)
	}
	mustContain(t, err, `i2c bus "KERVIDENIED"`, "permission denied", "group i2c")
}

func TestOpenSPIAndOneWire(t *testing.T) {
	register(t)
	p, err := bus.OpenSPI("KERVISPI", bus.MaxSpeed(physic.MegaHertz))
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	_, err = bus.OpenSPI("KERVISPI", bus.MaxSpeed(0))
	mustContain(t, err, `spi bus "KERVISPI"`, "max speed")
	_, err = bus.OpenSPI("9.9")
	if !errors.Is(err, bus.ErrNoBus) {
		t.Fatalf("unknown port: %v", err)
	}
	mustContain(t, err, `spi bus "9.9"`, "enable SPI", "KERVISPI")

	w, err := bus.OpenOneWire("KERVIW1")
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	_, err = bus.OpenOneWire("w1-none")
	if !errors.Is(err, bus.ErrNoBus) {
		t.Fatalf("unknown 1-wire bus: %v", err)
	}
	mustContain(t, err, `1-wire bus "w1-none"`, "1-Wire")
}

func TestErrors(t *testing.T) {
	nack := errors.New("i2ctest: unexpected Tx()")
	err := bus.I2CError("bme280", "I2C1", 0x76, nack)
	mustContain(t, err, `bme280 on i2c bus "I2C1" at address 0x76: i2ctest: unexpected Tx()`)
	if !errors.Is(err, nack) {
		t.Fatal("the cause is lost")
	}
	if again := bus.I2CError("bmp280", "I2C1", 0x77, err); again != err {
		t.Fatalf("an *Error is wrapped twice: %v", again)
	}
	if bus.I2CError("x", "1", 1, nil) != nil || bus.SPIError("x", "1", nil) != nil || bus.OneWireError("x", "1", 0, nil) != nil {
		t.Fatal("nil error wrapped")
	}
	mustContain(t, bus.SPIError("mcp3008", "SPI0.0", errors.New("no answer")), `mcp3008 on spi bus "SPI0.0": no answer`)
	mustContain(t, bus.OneWireError("ds18b20", "w1", 0x7a00000131825228, errors.New("crc")), `ds18b20 on 1-wire bus "w1" at address 0x7a00000131825228: crc`)
	mustContain(t, bus.OneWireError("ds18b20", "w1", 0, errors.New("no device")), `ds18b20 on 1-wire bus "w1": no device`)
	if bus.Name(&i2ctest.Playback{}) == "" || bus.Name(nil) != "<nil>" {
		t.Fatal("Name")
	}
}
