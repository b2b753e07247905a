package logx

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
)

// Forward returns a handler that hands every record to the handler of the
// logger target holds when the record is logged, with the attributes and
// groups added to the forwarding handler: for loggers made before the
// logger they should write to is chosen (the application's Main picks its
// console logger after the runtime's parts exist).
func Forward(target *atomic.Pointer[slog.Logger]) slog.Handler {
	return &forward{target: target}
}

type forward struct {
	target *atomic.Pointer[slog.Logger]
	with   []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *forward) Enabled(ctx context.Context, l slog.Level) bool {
	return h.target.Load().Handler().Enabled(ctx, l)
}

func (h *forward) Handle(ctx context.Context, r slog.Record) error {
	t := h.target.Load().Handler()
	for _, w := range h.with {
		t = w(t)
	}
	return t.Handle(ctx, r)
}

func (h *forward) WithAttrs(as []slog.Attr) slog.Handler {
	return &forward{target: h.target, with: append(slices.Clip(h.with), func(t slog.Handler) slog.Handler { return t.WithAttrs(as) })}
}

func (h *forward) WithGroup(name string) slog.Handler {
	return &forward{target: h.target, with: append(slices.Clip(h.with), func(t slog.Handler) slog.Handler { return t.WithGroup(name) })}
}
