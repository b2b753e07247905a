// Package ipc is how the processes of a kervi application talk: the Bus of
// each process, on which its components register their ids, publish and
// follow value events, read values and call actions by id, wherever in the
// application their owners live. A hub in the application's parent
// process routes all of it between the processes. The package also holds
// what every kervi package shares: the description of a component
// (Description), the content of a value (Value, Event), and the errors,
// matched with errors.Is (ErrUnknownID, ErrBusy, ...).
//
// Applications get their buses from kervi: a module's setup receives its
// module's, and the parent's is Application.Bus. Tests of components and
// modules run them in one process with package ipctest.
//
// # The catalogue
//
// Every component is an entry of the application's catalogue, described
// by a Description: values (Bus.RegisterValue), actions
// (Bus.RegisterAction), and sensors and controllers (Bus.Announce), which
// own no content and which their values and actions name as their Parent.
// A description says what an observer such as a dashboard needs: the
// kind, the owning module, a value's type, unit, range and enum choices
// with their texts, whether it is an input, an action's parameter and
// result types, and free-form metadata.
//
// Any process can follow the catalogue (Bus.FollowCatalogue): first every
// entry, then each announcement and retirement as it happens, or read it
// once (Bus.Catalogue). An entry is retired when its module stopped or
// failed for good, or restarted and did not declare it again by the time
// it was ready.
//
// # Patterns
//
// Bus.SubscribePattern follows every value whose id matches a pattern,
// wherever it lives, as Bus.Subscribe follows one id: "." separates
// tokens, "*" matches one token and a last ">" the rest, as in NATS
// subjects ("greenhouse.>", "*.temp", ">"). OwnedBy narrows it to the
// values of one module. Values announced later join; each starts with its
// current content.
//
// Observers that want the current state rather than every change, such as
// a dashboard, subscribe with LatestOnly: the events of each id are then
// coalesced to the latest, always, so that at most one event per id
// waits for them, and they do not count as interest for the values'
// owners (Publisher.Followed), which keep coalescing their own queues: a
// latest-only ">" follower costs the application little.
//
// # Reading and describing
//
// Any process reads the current content of a value by id with Get (or
// Bus.Get), typed: the value's owner answers, so a read sees every set
// its caller made before it. Bus.Describe returns what an id's owner
// announced (Description): a value's type, unit and range, an action's
// parameters and result.
//
// # Action data
//
// Action arguments and results cross processes as data (see Convert):
// numbers, text, bytes, times, durations, pointers, slices,
// maps with string keys and structs, whose exported fields are named as
// encoding/json names them. DescribeData describes a Go type as it
// crosses; a type that cannot cross (a channel, a function, a recursive
// type) is refused when an action registers, and a conversion error names
// the field: `field "pos.x": want a number, got a string ("left")`.
//
// # Order
//
// The events of one id reach every subscriber in the order they were
// published. Calls, sets, results and the life cycle travel apart from
// value events (on a stream of their own between processes), so they never
// wait behind value events; a value event may be overtaken by a result or
// a call sent after it.
//
// # Slow subscribers
//
// Every queue is bounded (Limits). A subscriber that keeps up, within a
// process or across processes, gets every event in order; when more than
// 4096 events (or 4 MiB) wait for it, its publishers wait for it, so they
// go at its pace. A subscriber that does not catch up within
// Limits.StallTimeout (it is stopped, wedged, or much slower than its
// publishers) no longer holds anybody back: its events are coalesced, so
// that only the latest event of each id waits for it, until it keeps up
// again for that long. The same happens when Limits.QueueEvents or
// Limits.QueueBytes of them wait. Every id's events stay in order, and the
// subscriber always works on the current state, never on a growing
// backlog: a slow OnChange callback sees the latest content of its value.
// Each such episode is logged once when it starts and once when it ends,
// with the count of events coalesced (Bus.Coalesced, and the module's
// status in kervi). NATS's slow-consumer handling and MQTT's retained
// state are the models: the latest value is what a value means.
//
// Calls and sets in flight are capped (Limits.MaxCalls): more are refused
// with ErrBusy. Results and control messages are never dropped.
//
// # Input
//
// What enters is checked where it enters: ids (ValidateID, on every path),
// text (valid UTF-8: ErrWrongType for a value's content, ErrBadArgs for an
// argument), sizes (Limits.MaxMessageSize: ErrTooLarge). A message that
// cannot cross processes fails alone, never a stream or its neighbours.
// The hub accepts a value event only from the module that owns its id.
package ipc
