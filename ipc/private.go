package ipc

import (
	"context"
	"fmt"
)

// RegisterPrivateAction claims id for an action owned by this process that
// only this process can call (Bus.Call): it is not announced to the
// application, so observers do not see it and calls from other processes
// fail with ErrUnknownID. It fails as RegisterAction does.
func (b *Bus) RegisterPrivateAction(id string, handler func(ctx context.Context, args Args) (any, error)) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if handler == nil {
		return fmt.Errorf("kervi: action %q: nil handler", id)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.stateLocked(id)
	if st.own != nil || st.value != nil || st.action != nil {
		return fmt.Errorf("%w %q: already registered in module %q", ErrDuplicateID, id, b.module)
	}
	if err := b.claimLocked(id); err != nil {
		return err
	}
	b.owned++
	st.action = &actionOwner{Handler: handler}
	return nil
}
