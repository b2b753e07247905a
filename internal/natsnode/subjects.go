package natsnode

import (
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Prefix returns the subject prefix of application app: "kervi.<app>".
func Prefix(app string) string { return "kervi." + app }

// InboxPrefix returns the reply inbox prefix of node: "kervi.<app>.in.<node>".
func InboxPrefix(app, node string) string { return Prefix(app) + ".in." + node }

// ReqSubject returns the subject of calls from node from to node to:
// "kervi.<app>.to.<to>.<from>.req". The sender is in the subject, where
// the server's permissions vouch for it.
func ReqSubject(app, to, from string) string { return Prefix(app) + ".to." + to + "." + from + ".req" }

// CtlSubject returns the subject of control requests from node from to
// node to: "kervi.<app>.to.<to>.<from>.ctl".
func CtlSubject(app, to, from string) string { return Prefix(app) + ".to." + to + "." + from + ".ctl" }

// ToPrefix returns the prefix of the subjects of what other nodes send
// node: "kervi.<app>.to.<node>.", which one subscription takes in order.
func ToPrefix(app, node string) string { return Prefix(app) + ".to." + node + "." }

// CatSubject returns the subject of node's catalogue changes.
func CatSubject(app, node string) string { return Prefix(app) + ".cat." + node }

// HBSubject returns the subject of node's heartbeats.
func HBSubject(app, node string) string { return Prefix(app) + ".hb." + node }

// EventSubject returns the subject of the events of value id owned by node:
// "kervi.<app>.ev.<node>.<EscapeID(id)>".
func EventSubject(app, node, id string) string {
	return Prefix(app) + ".ev." + node + "." + EscapeID(id)
}

// responseTTL is how long a node may take to answer a request it received:
// a call may run that long (NATS's allow_responses default, 2 min, is too
// short for a kervi action such as a slow motor move or a backup).
const responseTTL = 24 * time.Hour

// Permissions returns node's permissions in application app:
//
//	publish:   P.ev.<node>.>, P.to.*.<node>.*, P.cat.<node>, P.hb.<node>,
//	           and one reply to each request received (allow_responses)
//	subscribe: P.ev.>, P.to.<node>.>, P.cat.*, P.hb.*, P.in.<node>.>
//
// So a node cannot publish another node's events, cannot read another
// node's requests or replies, and sees nothing of another application.
func Permissions(app, node string) *server.Permissions {
	p := Prefix(app)
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			p + ".ev." + node + ".>",
			p + ".to.*." + node + ".*",
			p + ".cat." + node,
			p + ".hb." + node,
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{
			p + ".ev.>",
			p + ".to." + node + ".>",
			p + ".cat.*",
			p + ".hb.*",
			p + ".in." + node + ".>",
		}},
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL},
	}
}

// EscapeID makes kervi id (characters [A-Za-z0-9_.:/-]) fit in a subject,
// which refuses empty dot-separated tokens: each empty segment becomes "%"
// ("a..b" → "a.%.b", ".a" → "%.a", "" → "%"). UnescapeID reverses it.
// Other characters are kept: ':' and '/' are valid in NATS subjects.
func EscapeID(id string) string {
	if id != "" && id[0] != '.' && id[len(id)-1] != '.' && !strings.Contains(id, "..") {
		return id // the common case, on the path of every event: no copy
	}
	segs := strings.Split(id, ".")
	for i, s := range segs {
		if s == "" {
			segs[i] = "%"
		}
	}
	return strings.Join(segs, ".")
}

// UnescapeID reverses [EscapeID].
func UnescapeID(s string) string {
	segs := strings.Split(s, ".")
	for i, seg := range segs {
		if seg == "%" {
			segs[i] = ""
		}
	}
	return strings.Join(segs, ".")
}
