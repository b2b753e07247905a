// Package i2cfault provides an i2c.Bus that fails on command, to test how
// drivers report a missing device or a bus error in the middle of a
// transfer. It wraps a scripted bus (i2ctest.Playback) or any other.
package i2cfault

import (
	"errors"
	"fmt"
	"sync"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// ErrNACK is what Bus returns by default for a failed transfer: the answer
// of a Linux I2C adapter when no device acknowledges its address.
var ErrNACK = errors.New("i2cfault: no acknowledge (remote I/O error)")

// ErrIO is an error for Bus.Err: a transfer that broke off, as a loose
// wire causes.
var ErrIO = errors.New("i2cfault: input/output error")

// Bus passes the first After transfers to Inner, then fails every later one
// with Err (ErrNACK if nil). With After = 0 every transfer fails: no device
// at any address.
type Bus struct {
	Inner i2c.Bus // nil: transfers that do not fail succeed, reading zeros
	After int
	Err   error

	mu sync.Mutex
	n  int
}

// String implements conn.Resource: Inner's name, or "I2C-fault" without
// one.
func (b *Bus) String() string {
	if b.Inner != nil {
		return b.Inner.String()
	}
	return "I2C-fault"
}

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	n := b.n
	b.n++
	b.mu.Unlock()
	if n >= b.After {
		if b.Err != nil {
			return b.Err
		}
		return fmt.Errorf("address %#x: %w", addr, ErrNACK)
	}
	if b.Inner == nil {
		clear(r)
		return nil
	}
	return b.Inner.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (b *Bus) SetSpeed(physic.Frequency) error { return nil }

// Count returns the number of transfers tried, failed ones included.
func (b *Bus) Count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

var _ i2c.Bus = (*Bus)(nil)
