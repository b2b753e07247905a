// Package chiptest provides I²C buses for the tests of the chip drivers:
// one with no device on it, and one that fails in the middle of a
// scripted exchange.
package chiptest

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// ErrNACK is the error of a transaction that no device acknowledged, as
// Linux reports it (ENXIO/EREMOTEIO become this text in periph's sysfs
// driver).
var ErrNACK = errors.New("i2c: no acknowledge (no device at this address)")

// ErrIO is the error of a transaction that broke off, as a loose wire
// causes.
var ErrIO = errors.New("i2c: input/output error")

// Empty is an I²C bus with no device on it: every transaction fails with
// ErrNACK.
type Empty struct{}

// String implements i2c.Bus.
func (Empty) String() string { return "I2C-empty" }

// Tx implements i2c.Bus.
func (Empty) Tx(addr uint16, w, r []byte) error {
	return fmt.Errorf("address %#x: %w", addr, ErrNACK)
}

// SetSpeed implements i2c.Bus.
func (Empty) SetSpeed(physic.Frequency) error { return nil }

// FailAt passes transactions to Bus until transaction number N (counted
// from 0), which fails with ErrIO, as do all later ones.
type FailAt struct {
	Bus   i2c.Bus
	N     int
	count int
}

// String implements i2c.Bus.
func (f *FailAt) String() string { return f.Bus.String() }

// Tx implements i2c.Bus.
func (f *FailAt) Tx(addr uint16, w, r []byte) error {
	n := f.count
	f.count++
	if n >= f.N {
		return fmt.Errorf("transaction %d: %w", n, ErrIO)
	}
	return f.Bus.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (f *FailAt) SetSpeed(hz physic.Frequency) error { return f.Bus.SetSpeed(hz) }

var (
	_ i2c.Bus = Empty{}
	_ i2c.Bus = (*FailAt)(nil)
)
