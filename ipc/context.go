package ipc

import "context"

type busKey struct{}

// NewContext returns a copy of ctx that carries b. Every context kervi hands
// to user code (setup, hooks, actions, callbacks) already carries the bus of
// its process; use NewContext for contexts of your own.
func NewContext(ctx context.Context, b *Bus) context.Context {
	return context.WithValue(ctx, busKey{}, b)
}

// FromContext returns the bus ctx carries, if any.
func FromContext(ctx context.Context) (*Bus, bool) {
	b, ok := ctx.Value(busKey{}).(*Bus)
	return b, ok && b != nil
}
