package host_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/kervi/kervi-go/devices/host"
)

func TestInitOnce(t *testing.T) {
	st1, err1 := host.Init()
	st2, err2 := host.Init()
	if st1 != st2 || !errors.Is(err2, err1) && err1 != err2 {
		t.Fatalf("Init gave %p %v, then %p %v", st1, err1, st2, err2)
	}
	if err1 != nil {
		t.Fatalf("Init on this machine: %v", err1)
	}
}

func TestDetectOnThisMachine(t *testing.T) {
	b := host.Detect()
	_, err := os.Stat("/proc/device-tree/model")
	if hasDT := err == nil; b.Supported() != hasDT {
		t.Fatalf("Detect = %+v (supported %v), but /proc/device-tree/model exists: %v", b, b.Supported(), hasDT)
	}
	if b.String() == "" {
		t.Fatal("empty description")
	}
}

func TestFakes(t *testing.T) {
	laptop, pi, other := host.Board{}, host.Board{Pi: true, Model: "Raspberry Pi Zero W Rev 1.1"}, host.Board{Model: "Pine64+"}
	cases := []struct {
		mode  host.Mode
		board host.Board
		fakes bool
	}{
		{host.Auto, laptop, true}, {host.Auto, pi, false}, {host.Auto, other, false},
		{host.Real, laptop, false}, {host.Real, pi, false},
		{host.Fake, laptop, true}, {host.Fake, pi, true},
	}
	for _, c := range cases {
		if got := (host.Info{Mode: c.mode, Board: c.board}).Fakes(); got != c.fakes {
			t.Errorf("%v on %v: fakes %v, want %v", c.mode, c.board, got, c.fakes)
		}
	}
}

type dev struct{ fake bool }

func TestChoose(t *testing.T) {
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	errNACK := errors.New(`bme280 on i2c bus "1" at address 0x76: no device (NACK)`)
	open := func() (*dev, error) { return nil, errNACK }
	fake := func() *dev { return &dev{fake: true} }

	// On a Pi, a missing chip is an error, never a fake.
	d, err := host.Choose(host.Info{Mode: host.Auto, Board: host.Board{Pi: true}, Logger: logger}, "bme280", open, fake)
	if !errors.Is(err, errNACK) || d != nil {
		t.Fatalf("on a Pi: %v, %v", d, err)
	}
	// On a laptop, a fake, loudly.
	d, err = host.Choose(host.Info{Mode: host.Auto, Logger: logger}, "bme280 on i2c bus 1 at 0x76", open, fake)
	if err != nil || !d.fake {
		t.Fatalf("on a laptop: %v, %v", d, err)
	}
	if s := log.String(); !strings.Contains(s, "FAKE DEVICE") || !strings.Contains(s, "bme280 on i2c bus 1 at 0x76") || !strings.Contains(s, "WARN") {
		t.Fatalf("log %q", s)
	}
	// Real mode on a laptop: the open's error.
	if _, err := host.Choose(host.Info{Mode: host.Real, Logger: logger}, "bme280", open, fake); !errors.Is(err, errNACK) {
		t.Fatalf("real mode: %v", err)
	}
}

func TestSetup(t *testing.T) {
	t.Setenv(host.EnvMode, "fake")
	info, err := host.Setup(nil, host.Real)
	if err != nil || info.Mode != host.Fake || !info.Fakes() {
		t.Fatalf("$%s=fake over Real: %+v, %v", host.EnvMode, info, err)
	}
	t.Setenv(host.EnvMode, "sometimes")
	if _, err := host.Setup(nil, host.Auto); err == nil || !strings.Contains(err.Error(), "sometimes") || !strings.Contains(err.Error(), host.EnvMode) {
		t.Fatalf("bad $%s: %v", host.EnvMode, err)
	}
	t.Setenv(host.EnvMode, "")
	info, err = host.Setup(nil, host.Real)
	if err != nil || info.Mode != host.Real || info.Fakes() {
		t.Fatalf("real mode on this machine (periph init finds nothing, which is no error): %+v, %v", info, err)
	}
	if _, err := host.Setup(nil, host.Mode(9)); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []host.Mode{host.Auto, host.Real, host.Fake} {
		got, err := host.ParseMode(strings.ToUpper(m.String()))
		if err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := host.ParseMode("maybe"); err == nil {
		t.Fatal("ParseMode accepted maybe")
	}
}
