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
//	GET  /api/layout                 the dashboards: {"dashboards": [...]}
//	GET  /api/live                   the WebSocket
//	GET  /api/session                who is logged in (see Users below)
//	POST /api/login                  {"user": ..., "password": ...}: a session cookie
//	POST /api/logout                 ends the session
//
// and the browser's single-page application (package files under static/,
// embedded in the binary) at / and every other path outside /api/.
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
// # The browser's dashboard
//
// The Server serves a single-page application, embedded in the binary
// (plain JavaScript and CSS, no build step, no network at run time; uPlot
// draws the charts, vendored with its licence under static/vendor/uplot).
// It shows the dashboards of GET /api/layout: those that components declare
// with package layout, and an automatic one ("main" when nothing is placed,
// "all" otherwise) with a panel per module holding every value and action,
// each with a widget chosen from its type, input, unit and range (a switch
// for a bool input, a slider for a number input with a range, a gauge for a
// number output with one, a value and a sparkline for other numbers, a form
// for an action with parameters, ...). Its System view shows the modules'
// health (kervi.module.* values) and the warnings and errors of every
// process (the log feed, kervi.log). It reconnects by itself, and has light
// and dark themes.
//
// # Users
//
// Without users, the dashboard is open to whoever reaches it: fine on
// loopback (the default address), and said loudly in a warning at start
// when it listens beyond. Option Users turns on logins: each user has a
// name, the bcrypt hash of a password (HashPassword, or the command
// go run github.com/kervi/kervi-go/dashboard/cmd/kervi-passwd) and groups:
//
//	dashboard.Module(
//		dashboard.Addr("0.0.0.0:8765"),
//		dashboard.Users(
//			dashboard.User{Name: "ann", PasswordHash: "$2a$10$...", Groups: []string{"family"}},
//			dashboard.User{Name: "root", PasswordHash: "$2a$10$...", Groups: []string{"admin", "family"}},
//		),
//		dashboard.TLS("/etc/kervi/cert.pem", "/etc/kervi/key.pem"),
//	)
//
// The browser then shows a login form. A login (POST /api/login) makes a
// session: a random 256-bit token in the cookie kervi_session (HttpOnly,
// SameSite=Strict, Secure over TLS), kept server-side for a fixed lifetime
// (SessionLifetime, default 12 h; not extended by use). Every route of the
// API but /api/session, /api/login and /api/logout needs one (401
// otherwise), and so does the WebSocket; when a session expires, its
// WebSocket is closed with code 4001 (StatusSessionExpired) and the browser
// asks for a login again. Logins are rate-limited per client address and
// per user name (LoginRateLimit), and a POST from a page of another site
// is refused (403), as is such a WebSocket.
//
// The layout's groups limit what each user reads and writes (package
// layout, "Access by group"): Placement.Read and Placement.Write, and the
// Read and Write of the Spec of a dashboard or a panel. A user is sent only
// what the user may read, over REST and the WebSocket alike, also when a
// later announcement changes it; a refused write is a 403 naming the user
// and the id. kervi's own health and log values and actions (kervi.*) are
// read by every user and written by none. The endpoints are in
// docs/protocol.md, section "Dashboard sessions".
//
// Beyond loopback with users, serve HTTPS (option TLS, or a TLS proxy in
// front): over plain HTTP, passwords and session cookies cross the network
// in clear, and the module says so in a warning at start. Behind a proxy,
// the cookie is Secure only if the proxy speaks TLS to the dashboard too,
// and logins are counted per the proxy's address.
//
// # Tests in a browser
//
// The tests of examples/fan (dashboard_test.go) drive a real headless
// Chromium against the fan example running as processes: live values,
// switches, sliders and refused writes, charts with history, a module
// killed and restarted, and the login.
package dashboard
