package hd44780

import (
	"context"
	"fmt"

	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/values"
)

// Display is a controller that shows its String inputs on the LCD, one per
// row: "<id>.line1" to "<id>.lineN" (N = the display's rows), and switches
// the backlight with its Bool input "<id>.backlight" (initially on). Any
// process, a dashboard or a link can set them. A line longer than the
// display is cut.
//
// The lines are drawn when the application runs (Start) and then after
// each change; a failed write is logged on the module's logger (with the
// display's id and the error) and retried at the next change. When the
// module stops, Exit clears the display and switches the backlight off.
type Display struct {
	*controllers.Controller
	dev       *Dev
	lines     []*values.String
	backlight *values.Bool
}

// NewDisplay creates the controller id showing d. Errors of creation are
// kept as the controllers package says (Err, the module's setup).
func NewDisplay(bus *ipc.Bus, id, name string, d *Dev, opts ...controllers.Option) *Display {
	c := &Display{dev: d}
	c.Controller = controllers.New(bus, id, name, c, opts...)
	_, rows := d.Size()
	for r := range rows {
		n := fmt.Sprintf("line%d", r+1)
		c.lines = append(c.lines, c.Inputs().String(n, fmt.Sprintf("Line %d", r+1), values.Initial("")))
	}
	c.backlight = c.Inputs().Bool("backlight", "Backlight", values.Initial(true))
	return c
}

// Lines returns the display's line inputs, top first.
func (c *Display) Lines() []*values.String { return append([]*values.String(nil), c.lines...) }

// Backlight returns the display's backlight input.
func (c *Display) Backlight() *values.Bool { return c.backlight }

// Start draws every line and sets the backlight.
func (c *Display) Start(ctx context.Context) error {
	c.show(c.dev.SetBacklight(c.backlight.Value()))
	for r, l := range c.lines {
		c.show(c.dev.WriteLine(r, l.Value()))
	}
	return nil
}

// InputChanged draws the line that changed, or sets the backlight.
func (c *Display) InputChanged(ctx context.Context, in values.Value) {
	if in == values.Value(c.backlight) {
		c.show(c.dev.SetBacklight(c.backlight.Value()))
		return
	}
	for r, l := range c.lines {
		if in == values.Value(l) {
			c.show(c.dev.WriteLine(r, l.Value()))
		}
	}
}

// Exit clears the display and switches the backlight off.
func (c *Display) Exit(ctx context.Context) error { return c.dev.Halt() }

func (c *Display) show(err error) {
	if err != nil {
		c.Bus().Logger().Warn("display write failed", "display", c.ID(), "error", err)
	}
}
