// Package failed lets a component package hand out a component of another
// package whose creation failed, such as the values of a controller whose
// own creation failed: usable objects that do nothing and report the error.
// The packages that own the types set the functions in their init.
package failed

import "github.com/kervi/kervi-go/ipc"

// Value returns a value of type typ (a *values.Number for TypeNumber, and
// so on) whose creation failed with err. Set by package values.
var Value func(typ ipc.Type, id, name string, input bool, err error) any

// Action returns an *actions.Action whose creation failed with err. Set by
// package actions.
var Action func(id, name string, err error) any

// Job returns a *schedule.Job whose creation failed with err. Set by
// package schedule.
var Job func(err error) any
