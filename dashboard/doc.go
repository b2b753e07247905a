// Package dashboard is the web dashboard of a kervi application: a server
// that follows the whole application and serves it to browsers.
//
// # What exists now: the server core
//
// Module adds the dashboard to an application as a module of its own,
// in its own process, so that a crash in the web server never touches the
// sensors (the module is restarted like any other):
//
//	app, err := kervi.NewApplication([]kervi.Module{sensors.Module, controllers.Module, dashboard.Module()})
//
// It listens on 127.0.0.1:8765 (DefaultAddr; option Addr) and logs the URL
// to open. A program that already serves HTTP can mount a Server (New) in its
// own router instead.
//
// A Server follows the catalogue (ipc.Bus.FollowCatalogue) and the latest
// content of every value (ipc.Bus.SubscribePattern(">") with ipc.LatestOnly),
// and keeps the history of every number value in a history.Memory (option
// History). It serves, as JSON under /api/:
//
//	GET  /api/catalogue              every entry (ipc.Description)
//	GET  /api/values                 the latest event of every value: [{"id","value","time"}]
//	GET  /api/values/{id}            one value's
//	POST /api/values/{id}            {"value": ...}: a set, checked by the value's owner
//	POST /api/actions/{id}           {"args": [...]}: a call; answers {"result": ...}
//	GET  /api/history/{id}?from=&to=&points=   [[unixMillis, value], ...]
//	GET  /api/modules                the modules' status (kervi.modules)
//	GET  /api/logs                   the last log records (kervi.logs)
//	GET  /api/live                   the WebSocket
//
// Times in values are unix milliseconds; from and to are RFC 3339 or unix
// milliseconds (default: all the history up to now), and points (1 to
// MaxHistoryPoints, default 1000) bounds the points of a chart (see
// history.Downsample). An error answers {"error": "..."} with the status of
// ipc.HTTPStatus: a set refused as out of range is a 400 with the owner's
// message.
//
// The WebSocket /api/live sends the catalogue and the latest value of every
// id, then catalogue changes and value updates as they happen, coalesced per
// value per client: each client has a set of the ids that changed, holding the
// latest event of each, which its own writer flushes in batches, at most one
// a FlushInterval (default 20 ms). A slow
// browser never slows the application or the other clients, and always ends
// on the latest value; one that does not take a message within WriteTimeout is
// disconnected. Browsers set values and call actions over it too. The protocol
// is in docs/protocol.md, section "Dashboard WebSocket".
//
// # What comes later
//
// The browser user interface (a single page embedded in the binary, widgets
// chosen from the catalogue, layout from Go, charts of the history), users and
// sessions (until then, a dashboard listening beyond loopback is open to anyone
// who reaches it, and says so in a warning at start), and the tests that drive
// a real browser.
package dashboard
