package ssd1306

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Display is a controller that shows its String inputs on the display,
// one per line of text: "<id>.line1" to "<id>.lineN" (N = 8 on a 128x64
// display, 4 on a 128x32). Any process, a dashboard or a link can set
// them. A line longer than the display (21 characters on 128 pixels) is
// cut. Graphics go through the Dev's Draw; a line written afterwards is
// drawn over them.
//
// The lines that have text are drawn when the application runs (Start),
// and each line after each change (an empty line darkens its band); a failed write is logged on the module's logger (with the
// display's id and the error) and retried at the next change. When the
// module stops, Exit clears the display and switches it off.
type Display struct {
	*controllers.Controller
	dev   *Dev
	lines []*values.String
}

// NewDisplay creates the controller id showing d. Errors of creation are
// kept as the controllers package says (Err, the module's setup).
func NewDisplay(bus *ipc.Bus, id, name string, d *Dev, opts ...controllers.Option) *Display {
	c := &Display{dev: d}
	c.Controller = controllers.New(bus, id, name, c, opts...)
	for r := range d.Rows() {
		c.lines = append(c.lines, c.Inputs().String(fmt.Sprintf("line%d", r+1), fmt.Sprintf("Line %d", r+1), values.Initial("")))
	}
	return c
}

// Lines returns the display's line inputs, top first.
func (c *Display) Lines() []*values.String { return append([]*values.String(nil), c.lines...) }

// Start draws every line that has text; empty lines leave what the
// display shows (graphics drawn in the module's setup stay).
func (c *Display) Start(ctx context.Context) error {
	for r, l := range c.lines {
		if l.Value() != "" {
			c.show(c.dev.WriteLine(r, l.Value()))
		}
	}
	return nil
}

// InputChanged draws the line that changed.
func (c *Display) InputChanged(ctx context.Context, in values.Value) {
	for r, l := range c.lines {
		if in == values.Value(l) {
			c.show(c.dev.WriteLine(r, l.Value()))
		}
	}
}

// Exit clears the display and switches it off.
func (c *Display) Exit(ctx context.Context) error {
	if err := c.dev.Clear(); err != nil {
		return err
	}
	return c.dev.Halt()
}

func (c *Display) show(err error) {
	if err != nil {
		c.Bus().Logger().Warn("display write failed", "display", c.ID(), "error", err)
	}
}
