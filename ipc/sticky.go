package ipc

import "sync"

// sticky holds the first error the components of a module recorded with
// Bus.Fail.
type sticky struct {
	mu  sync.Mutex
	err error
}

// Fail records err, an error of a component's creation that its code need
// not check: component constructors (values.NewNumber, controllers.New,
// actions.Register, sensors.New, ...) return a usable object and record
// their error here, as bufio.Scanner keeps its error until Err is called.
//
// The first error recorded wins. Recorded while the module's setup runs,
// it fails the setup, as if the setup had returned it (the error as it is,
// so errors.Is keeps working on the module's error); later ones are logged.
// Recorded once the setup is over (a component created at run time), every
// error also goes to the bus's error handler. A nil err is ignored.
func (b *Bus) Fail(err error) {
	if err == nil {
		return
	}
	b.mu.RLock()
	running := b.started
	b.mu.RUnlock()
	b.sticky.mu.Lock()
	first := b.sticky.err == nil
	if first {
		b.sticky.err = err
	}
	b.sticky.mu.Unlock()
	switch {
	case running:
		b.ReportError(err)
	case !first:
		b.log.Warn("another setup error; the setup fails with the first", "error", err)
	}
}

// Err returns the first error recorded with Fail, or nil.
func (b *Bus) Err() error {
	b.sticky.mu.Lock()
	defer b.sticky.mu.Unlock()
	return b.sticky.err
}
