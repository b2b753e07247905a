// Package bridge joins the hub of one node (machine) of a kervi
// application to the hubs of its other nodes over NATS.
//
// Every node's parent process keeps its own hub and runs its own modules;
// the bridge imports into that hub the catalogue of every other node (each
// remote node is a proxy port of the hub that owns its ids, see
// plumb.Hub.AttachNode), exports the ids this node's modules own, and
// carries calls, sets, reads and value events between the nodes by id. A
// node that loses its link keeps running its modules; what it imported
// stays, with calls to it failing with ErrOwnerGone, until the link
// returns and the bridge re-synchronises.
//
// The subjects, messages and rules are specified in docs/protocol.md
// ("Nodes"). This package is plumbing for the kervi runtime.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kervi/kervi-go/internal/cluster"
	"github.com/kervi/kervi-go/internal/kervipb"
	"github.com/kervi/kervi-go/internal/natsnode"
	"github.com/kervi/kervi-go/internal/plumb"
)

// Config configures a bridge.
type Config struct {
	// App is the application's name and Node this node's name: subject
	// tokens ([A-Za-z0-9_-]).
	App, Node string
	// Main is the main node's name, whose clock the nodes measure their
	// offset to.
	Main string
	// Conn is the node's connection to NATS, made with kervi's settings
	// (internal/natsnode.Dial). The bridge does not close it.
	Conn *nats.Conn
	// Hub is the node's hub.
	Hub plumb.Hub
	// Logger receives the bridge's logs.
	Logger *slog.Logger
	// Heartbeat is how often the node tells the others it is alive
	// (default 1 s); a node not heard of for OfflineAfter (default 5 s)
	// is offline. The follows of a node offline for ForgetAfter (default
	// 1 min) are dropped.
	Heartbeat, OfflineAfter, ForgetAfter time.Duration
	// Version is this node's version, which the others see.
	Version string
	// LocalOnly reports ids that stay on their node: never exported, and
	// not imported from other nodes (such as kervi.modules).
	LocalOnly func(id string) bool
	// OnNode, if set, is told of every change of a node's state, this
	// node's own included. It must not block.
	OnNode func(NodeState)
	// Now is the node's clock (default time.Now); a test can put it off.
	Now func() time.Time
	// MaxPending bounds the control messages (catalogue changes, calls,
	// results) waiting for the link, in messages; default 65536. They
	// are bounded to 64 MiB too.
	MaxPending int
}

// NodeState is what a node knows of a node.
type NodeState = cluster.NodeState

// Bridge is a running bridge.
type Bridge struct {
	cfg         Config
	p           string // subject prefix: kervi.<app>
	evPrefix    string // the subject of this node's events, but the id
	replyPrefix string // the subject of answers to this node's calls, but the call
	nc          *nats.Conn
	log         *slog.Logger
	epoch       uint64
	self        plumb.Port // the bridge's own port: subscribes and calls on behalf of other nodes
	out         *outbox
	evCh        chan *nats.Msg
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	subs        []*nats.Subscription
	offset      atomic.Int64 // this node's clock minus main's, ns
	hbSeq       atomic.Uint64
	linkUp      atomic.Bool

	mu      sync.Mutex
	nodes   map[string]*remote
	follows map[string]map[string]bool // exported id → the nodes that follow it
	fepoch  map[string]uint64          // a following node → the run of it that follows
	lastOut map[string]*kervipb.Msg    // exported id → its last event, numbered
	seqOut  map[string]uint64
	cat     map[string]*kervipb.Msg // this node's own catalogue entries, as exported
	catSeq  uint64
	inCalls map[uint64]string // local seq of a call from another node → its reply subject
	byReply map[string]uint64
	inBy    map[string]int // a calling node → its calls in flight here
	inSeq   uint64
	calls   map[uint64]*remote // hub seq of a call to another node → that node
	closed  bool
}

// remote is another node, as this one sees it.
type remote struct {
	name      string
	port      plumb.Port // nil while offline
	online    bool
	ready     bool // the catalogue was imported on port: events may flow
	epoch     uint64
	hbSeq     uint64
	seen      time.Time // local monotonic time of the last heartbeat
	since     time.Time
	version   string
	offset    time.Duration
	catSynced bool
	catSeq    uint64
	ids       map[string]bool               // ids imported from the node
	want      map[string]bool               // ids processes here follow (KIND_INTEREST)
	subs      map[string]*nats.Subscription // event subscriptions
	refollow  bool                          // ask the node for every followed id again
	lastIn    map[string]evNum
	kick      chan struct{}
	rejected  map[string]bool
	warned    time.Time // when its clock was last warned about
	misused   time.Time // when what it sent was last refused with a warning
	// catMu orders what goes into port of the node's catalogue: a
	// snapshot (syncCatalogue) and the changes after it (onCatalogue)
	// reach the hub in the order of their sequence numbers. Taken before
	// Bridge.mu, never under it.
	catMu sync.Mutex
}

type evNum struct{ epoch, seq uint64 }

// heartbeat is what a node publishes on P.hb.<node>.
type heartbeat struct {
	Node    string `json:"node"`
	Epoch   uint64 `json:"epoch"`
	Seq     uint64 `json:"seq"`
	Version string `json:"version"`
	Time    int64  `json:"time"`          // the node's clock, unix ns
	Offset  int64  `json:"offset"`        // the node's clock minus main's, ns
	Cat     uint64 `json:"cat"`           // the sequence number of its last catalogue change
	Bye     bool   `json:"bye,omitempty"` // the node stops: take it offline now
}

// control is a request on P.ctl.<node>.
type control struct {
	Op    string   `json:"op"` // follow, unfollow, catalogue, cancel, time
	Node  string   `json:"node,omitempty"`
	Epoch uint64   `json:"epoch,omitempty"` // the asking node's run
	IDs   []string `json:"ids,omitempty"`
	After string   `json:"after,omitempty"` // catalogue: the page after this id
	Reply string   `json:"reply,omitempty"` // cancel: the reply subject of the call
}

// controlReply answers a control request.
type controlReply struct {
	Refused map[string]string `json:"refused,omitempty"`
	Time    int64             `json:"time,omitempty"`
	Error   string            `json:"error,omitempty"`
}

// maxCallsPerNode bounds the calls one node may have in flight on another.
const maxCallsPerNode = 1024

// A page of a node's catalogue holds catPage entries at most, and
// catPageBytes (one larger entry goes alone).
const (
	catPage      = 256
	catPageBytes = 1 << 20
)

// maxWaitingEvents is how many events may wait for the link before only
// the latest of each id waits.
const maxWaitingEvents = 65536

// maxWaitingBytes bounds the bytes of the control messages waiting for
// the link, and of the events before only the latest of each id waits.
const maxWaitingBytes = 64 << 20

// Start starts a bridge; it runs until Close.
func Start(cfg Config) (*Bridge, error) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = 5 * time.Second
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LocalOnly == nil {
		cfg.LocalOnly = func(string) bool { return false }
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 65536
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Main == "" {
		cfg.Main = "main"
	}
	var eb [8]byte
	if _, err := rand.Read(eb[:]); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{
		cfg: cfg, p: "kervi." + cfg.App, nc: cfg.Conn, log: cfg.Logger.With("node", cfg.Node),
		epoch: binary.BigEndian.Uint64(eb[:]) | 1, ctx: ctx, cancel: cancel,
		evCh:    make(chan *nats.Msg, 65536),
		nodes:   map[string]*remote{},
		follows: map[string]map[string]bool{}, fepoch: map[string]uint64{}, lastOut: map[string]*kervipb.Msg{}, seqOut: map[string]uint64{},
		cat: map[string]*kervipb.Msg{}, inCalls: map[uint64]string{}, byReply: map[string]uint64{}, inBy: map[string]int{},
		calls: map[uint64]*remote{},
	}
	b.out = newOutbox(cfg.MaxPending, maxWaitingEvents, maxWaitingBytes)
	b.evPrefix = b.p + ".ev." + cfg.Node + "."
	// Answers to this run's calls: P.in.<node>.c.<epoch>.<hub seq>. (The
	// rest of the inbox is nats.go's, for control requests.)
	b.replyPrefix = b.p + ".in." + cfg.Node + ".c." + strconv.FormatUint(b.epoch, 10) + "."
	b.linkUp.Store(b.nc.IsConnected())
	self, err := cfg.Hub.AttachNode("", b.fromHub)
	if err != nil {
		cancel()
		return nil, err
	}
	b.self = self
	subscribe := func(subj string, h nats.MsgHandler) error {
		s, err := b.nc.Subscribe(subj, h)
		if err != nil {
			return fmt.Errorf("kervi: nodes: subscribe %s: %w", subj, err)
		}
		s.SetPendingLimits(65536, 64<<20)
		b.subs = append(b.subs, s)
		return nil
	}
	for _, s := range []struct {
		subj string
		h    nats.MsgHandler
	}{
		{b.p + ".cat.*", b.onCatalogue},
		{b.p + ".hb.*", b.onHeartbeat},
		{b.replyPrefix + ">", b.onReply},
	} {
		if err := subscribe(s.subj, s.h); err != nil {
			b.Close()
			return nil, err
		}
	}
	// Requests and control messages to this node come on a subscription
	// per sender (newRemote), served in the order they came: a follow
	// sent before a call is served before it, so the call's events reach
	// the follower, as on one machine. The subject names the sender,
	// which the server's permissions vouch for; a literal sender also
	// lets the interest cross a site's leaf, whose permissions name its
	// members.
	// The bridge learns this node's catalogue as the hub's other
	// followers do.
	self.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_FOLLOW_CATALOGUE}})
	b.wg.Add(3)
	go b.publish()
	go b.drainEvents()
	go b.beat()
	return b, nil
}

// Close stops the bridge: the other nodes' ids stay in the hub, with no
// running owner.
func (b *Bridge) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	var ports []plumb.Port
	for _, r := range b.nodes {
		if r.port != nil {
			ports = append(ports, r.port)
			r.port = nil
		}
		for _, s := range r.subs {
			_ = s.Unsubscribe()
		}
	}
	b.mu.Unlock()
	for _, s := range b.subs {
		_ = s.Unsubscribe()
	}
	b.cancel()
	b.out.kick()
	b.wg.Wait()
	for _, p := range ports {
		p.Detach()
	}
	if b.self != nil {
		b.self.Detach()
	}
}

// Leave tells the other nodes that this node stops, so that they take it
// offline at once (its ids stay there, stale, until it is back), waiting
// up to timeout for the word to leave, then closes the bridge: what this
// node's modules retire as they stop is not exported.
func (b *Bridge) Leave(timeout time.Duration) {
	if b.nc.IsConnected() {
		b.mu.Lock()
		cat := b.catSeq
		b.mu.Unlock()
		data, _ := json.Marshal(heartbeat{Node: b.cfg.Node, Epoch: b.epoch, Seq: b.hbSeq.Add(1), Version: b.cfg.Version,
			Time: b.cfg.Now().UnixNano(), Offset: b.offset.Load(), Cat: cat, Bye: true})
		if b.nc.Publish(b.subject("hb", b.cfg.Node), data) == nil {
			_ = b.nc.FlushTimeout(timeout)
		}
	}
	b.Close()
}

// LinkDown tells the bridge that the node's connection to NATS dropped:
// every other node is offline to it until it hears from them again.
func (b *Bridge) LinkDown(err error) {
	b.linkUp.Store(false)
	b.out.setDown(true)
	b.log.Warn("nodes: the link to NATS is down; other nodes are offline until it returns", "error", err)
	b.mu.Lock()
	var gone []*remote
	for _, r := range b.nodes {
		if r.online {
			gone = append(gone, r)
		}
	}
	b.mu.Unlock()
	for _, r := range gone {
		b.offline(r, "the link to NATS is down")
	}
}

// LinkUp tells the bridge that the connection returned: it republishes the
// last event of every id other nodes follow, which followers that missed
// it take and the others drop as not newer.
func (b *Bridge) LinkUp() {
	b.linkUp.Store(true)
	b.out.setDown(false)
	b.log.Info("nodes: the link to NATS is back")
	b.mu.Lock()
	for id, m := range b.lastOut {
		b.out.event(id, m)
	}
	b.mu.Unlock()
	b.out.kick()
}

// Resync asks every online node again for the last value of each id
// followed here: some of their events were lost on the way in (NATS
// dropped them for a slow consumer).
func (b *Bridge) Resync() {
	b.mu.Lock()
	var rs []*remote
	for _, r := range b.nodes {
		if r.online {
			r.refollow = true
			rs = append(rs, r)
		}
	}
	b.mu.Unlock()
	for _, r := range rs {
		r.poke()
	}
}

// Nodes returns what this node knows of the other nodes.
func (b *Bridge) Nodes() []NodeState {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]NodeState, 0, len(b.nodes))
	for _, r := range b.nodes {
		out = append(out, r.state())
	}
	return out
}

// Offset returns this node's clock offset to the main node, as last
// measured.
func (b *Bridge) Offset() time.Duration { return time.Duration(b.offset.Load()) }

func (r *remote) state() NodeState {
	return NodeState{Name: r.name, Online: r.online, Version: r.version, Offset: r.offset, Since: r.since}
}

func (b *Bridge) subject(kind, node string) string { return b.p + "." + kind + "." + node }

// ---- from the hub ----

// fromHub takes what the hub sends the bridge's own port: events of the
// ids other nodes follow, results of their calls, and this node's
// catalogue. It never waits.
func (b *Bridge) fromHub(ms []*kervipb.Msg) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range ms {
		switch m.Kind {
		case kervipb.Kind_KIND_EVENT:
			if len(b.follows[m.Id]) == 0 {
				continue
			}
			b.seqOut[m.Id]++
			n := &kervipb.Msg{Kind: kervipb.Kind_KIND_EVENT, Id: m.Id, Type: m.Type, Number: m.Number, Flag: m.Flag,
				Text: m.Text, Instant: m.Instant, Ts: m.Ts, Seq: b.seqOut[m.Id], Epoch: b.epoch}
			b.lastOut[m.Id] = n
			b.out.event(m.Id, n)
		case kervipb.Kind_KIND_RESULT:
			reply, ok := b.inCalls[m.Seq]
			if !ok {
				continue
			}
			delete(b.inCalls, m.Seq)
			delete(b.byReply, reply)
			b.endInCallLocked(reply)
			r := shallow(m)
			r.Seq = 0
			b.out.ctrl(outMsg{subj: reply, data: marshal(r)})
		case kervipb.Kind_KIND_CATALOGUE, kervipb.Kind_KIND_RETIRE:
			if m.Kind == kervipb.Kind_KIND_CATALOGUE && m.GetComponent().GetNode() != b.cfg.Node {
				continue // imported: never exported again
			}
			if b.cfg.LocalOnly(m.Id) {
				continue
			}
			if m.Kind == kervipb.Kind_KIND_RETIRE {
				if b.cat[m.Id] == nil {
					continue
				}
				delete(b.cat, m.Id)
				b.dropFollowsLocked(m.Id)
			}
			b.catSeq++
			c := &kervipb.Msg{Kind: m.Kind, Id: m.Id, Component: m.Component, Module: m.Module, Seq: b.catSeq, Epoch: b.epoch}
			if m.Kind == kervipb.Kind_KIND_CATALOGUE {
				b.cat[m.Id] = c
			}
			b.out.ctrl(outMsg{subj: b.subject("cat", b.cfg.Node), data: marshal(c), drop: true})
		}
	}
	b.out.kick()
	return nil
}

// dropFollowsLocked forgets who follows id.
func (b *Bridge) dropFollowsLocked(id string) {
	if len(b.follows[id]) > 0 {
		b.self.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_UNSUBSCRIBE, Id: id}})
	}
	delete(b.follows, id)
	delete(b.lastOut, id)
}

// fromPort takes what the hub sends the proxy port of node r: calls,
// sets and reads of its ids, their cancels, and interest in them.
func (b *Bridge) fromPort(r *remote, ms []*kervipb.Msg) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	kick := false
	var follow, unfollow []string
	// flush queues the follows and unfollows so far, ahead of the calls
	// that came after them.
	flush := func() {
		for _, op := range [...]struct {
			name string
			ids  *[]string
		}{{"follow", &follow}, {"unfollow", &unfollow}} {
			if len(*op.ids) > 0 {
				data, _ := json.Marshal(control{Op: op.name, Node: b.cfg.Node, Epoch: b.epoch, IDs: *op.ids})
				b.out.ctrl(outMsg{subj: natsnode.CtlSubject(b.cfg.App, r.name, b.cfg.Node), data: data, drop: true})
				*op.ids = nil
			}
		}
	}
	for _, m := range ms {
		switch m.Kind {
		case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET:
			flush()
			q := shallow(m)
			if m.Deadline != 0 {
				left := time.Until(time.Unix(0, m.Deadline))
				if left <= 0 {
					b.answerLocked(r, m, kervipb.Code_CODE_DEADLINE_EXCEEDED, "the deadline passed before the call left node "+strconv.Quote(b.cfg.Node))
					continue
				}
				q.Deadline = int64(left)
			}
			b.calls[m.Seq] = r
			seq := m.Seq
			b.out.ctrl(outMsg{subj: natsnode.ReqSubject(b.cfg.App, r.name, b.cfg.Node), reply: b.replyPrefix + strconv.FormatUint(seq, 10),
				data: marshal(q), fail: func(err error) { b.callFailed(r, seq, m, err) }})
		case kervipb.Kind_KIND_CANCEL:
			if b.calls[m.Seq] == r {
				c := control{Op: "cancel", Node: b.cfg.Node, Reply: b.replyPrefix + strconv.FormatUint(m.Seq, 10)}
				data, _ := json.Marshal(c)
				b.out.ctrl(outMsg{subj: natsnode.CtlSubject(b.cfg.App, r.name, b.cfg.Node), data: data, drop: true})
				// The call ends here at once: its answer may never come
				// (lost with the link, or the cancel lost), and the hub
				// would hold it for as long as the node stays online.
				delete(b.calls, m.Seq)
				b.answerLocked(r, m, kervipb.Code_CODE_CANCELED, fmt.Sprintf("the call was cancelled; node %q was told to stop it", r.name))
			}
		case kervipb.Kind_KIND_INTEREST:
			// Followed at once, in order with the calls that follow it,
			// once the node's catalogue is in; else by the worker.
			if m.Flag {
				r.want[m.Id] = true
				if r.ready && r.subs[m.Id] == nil {
					if sub, err := b.nc.ChanSubscribe(b.p+".ev."+r.name+"."+natsnode.EscapeID(m.Id), b.evCh); err == nil {
						r.subs[m.Id] = sub
						follow = append(follow, m.Id)
						continue
					}
				}
			} else {
				delete(r.want, m.Id)
				if sub := r.subs[m.Id]; r.ready && sub != nil {
					_ = sub.Unsubscribe()
					delete(r.subs, m.Id)
					delete(r.lastIn, m.Id)
					unfollow = append(unfollow, m.Id)
					continue
				}
			}
			kick = true
		case kervipb.Kind_KIND_REJECTED:
			// The id is not the node's here (a module of this node took
			// it): nothing here follows it from the node any more.
			if r.want[m.Id] {
				delete(r.want, m.Id)
				kick = true
			}
			if !r.rejected[m.Id] {
				r.rejected[m.Id] = true
				b.log.Error("nodes: an id of another node is refused", "id", m.Id, "from", r.name, "error", m.GetError().GetMessage())
			}
		}
	}
	flush()
	b.out.kick()
	if kick {
		r.poke()
	}
	return nil
}

// answerLocked answers a call to r's port at once.
func (b *Bridge) answerLocked(r *remote, m *kervipb.Msg, code kervipb.Code, msg string) {
	res := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Seq: m.Seq, Id: m.Id, Error: &kervipb.Error{Code: code, Message: msg}}
	if p := r.port; p != nil {
		go p.Receive([]*kervipb.Msg{res}) // not on the hub's delivery goroutine
	}
}

// callFailed answers a call that could not leave this node.
func (b *Bridge) callFailed(r *remote, seq uint64, m *kervipb.Msg, err error) {
	b.mu.Lock()
	if b.calls[seq] != r {
		b.mu.Unlock()
		return
	}
	delete(b.calls, seq)
	p := r.port
	b.mu.Unlock()
	if p != nil {
		p.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_RESULT, Seq: seq, Id: m.Id, Error: &kervipb.Error{
			Code: kervipb.Code_CODE_OWNER_GONE, Message: fmt.Sprintf("node %q cannot be reached: %v", r.name, err)}}})
	}
}

// ---- from other nodes ----

// serveIn serves a request or control message of another node: its
// subject, P.to.<this node>.<sender>.<req|ctl>, names the sender.
func (b *Bridge) serveIn(msg *nats.Msg) {
	from, kind, ok := strings.Cut(strings.TrimPrefix(msg.Subject, natsnode.ToPrefix(b.cfg.App, b.cfg.Node)), ".")
	if !ok || from == "" || from == b.cfg.Node {
		return
	}
	// An answer goes only to the sender's own inbox: a node cannot make
	// this one publish on another node's subjects.
	if msg.Reply != "" && !strings.HasPrefix(msg.Reply, b.p+".in."+from+".") {
		b.warnOnce(from, "nodes: a request's reply subject is not its sender's inbox; refused", "from", from, "reply", msg.Reply)
		return
	}
	switch kind {
	case "req":
		b.onRequest(from, msg)
	case "ctl":
		b.onControl(from, msg)
	}
}

// warnOnce logs a warning about what node did, once a minute at most.
func (b *Bridge) warnOnce(node, msg string, args ...any) {
	b.mu.Lock()
	r := b.nodes[node]
	if r != nil && !r.misused.IsZero() && time.Since(r.misused) < time.Minute {
		b.mu.Unlock()
		return
	}
	if r != nil {
		r.misused = time.Now()
	}
	b.mu.Unlock()
	b.log.Warn(msg, args...)
}

// onReply takes the answer to a call this node made.
func (b *Bridge) onReply(msg *nats.Msg) {
	seq, err := strconv.ParseUint(msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:], 10, 64)
	if err != nil {
		return
	}
	b.mu.Lock()
	r := b.calls[seq]
	delete(b.calls, seq)
	var p plumb.Port
	if r != nil {
		p = r.port
	}
	b.mu.Unlock()
	if p == nil {
		return
	}
	var res *kervipb.Msg
	if len(msg.Data) == 0 && msg.Header.Get("Status") == "503" {
		res = &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Error: &kervipb.Error{Code: kervipb.Code_CODE_OWNER_GONE,
			Message: fmt.Sprintf("node %q is offline (nothing answers its calls)", r.name)}}
	} else {
		res = &kervipb.Msg{}
		if err := res.UnmarshalVT(msg.Data); err != nil || res.Kind != kervipb.Kind_KIND_RESULT {
			res = &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Error: &kervipb.Error{Code: kervipb.Code_CODE_MALFORMED,
				Message: fmt.Sprintf("node %q sent an answer that cannot be read", r.name)}}
		}
	}
	res.Seq = seq
	p.Receive([]*kervipb.Msg{res})
}

// onRequest takes a call, set or read from node from.
func (b *Bridge) onRequest(from string, msg *nats.Msg) {
	if msg.Reply == "" {
		return
	}
	m := &kervipb.Msg{}
	fail := func(code kervipb.Code, text string) {
		res := &kervipb.Msg{Kind: kervipb.Kind_KIND_RESULT, Id: m.Id, Error: &kervipb.Error{Code: code, Message: text}}
		b.out.ctrl(outMsg{subj: msg.Reply, data: marshal(res), drop: true})
		b.out.kick()
	}
	if err := m.UnmarshalVT(msg.Data); err != nil {
		fail(kervipb.Code_CODE_MALFORMED, fmt.Sprintf("node %q cannot read the request: %v", b.cfg.Node, err))
		return
	}
	switch m.Kind {
	case kervipb.Kind_KIND_CALL, kervipb.Kind_KIND_SET, kervipb.Kind_KIND_GET:
	default:
		fail(kervipb.Code_CODE_MALFORMED, fmt.Sprintf("node %q: a request is a call, set or get, not %s", b.cfg.Node, m.Kind))
		return
	}
	b.mu.Lock()
	if len(b.inCalls) >= b.cfg.MaxPending {
		b.mu.Unlock()
		fail(kervipb.Code_CODE_BUSY, fmt.Sprintf("node %q has %d calls from other nodes in flight, the limit", b.cfg.Node, len(b.inCalls)))
		return
	}
	// One node cannot take every place: each has a share.
	if n := b.inBy[from]; n >= maxCallsPerNode {
		b.mu.Unlock()
		fail(kervipb.Code_CODE_BUSY, fmt.Sprintf("node %q has %d calls from node %q in flight, the limit for one node", b.cfg.Node, n, from))
		return
	}
	if b.cat[m.Id] == nil {
		b.mu.Unlock()
		fail(kervipb.Code_CODE_UNKNOWN_ID, fmt.Sprintf("no module of node %q owns %q", b.cfg.Node, m.Id))
		return
	}
	b.inSeq++
	seq := b.inSeq
	b.inCalls[seq] = msg.Reply
	b.byReply[msg.Reply] = seq
	b.inBy[from]++
	b.mu.Unlock()
	m.Seq = seq
	if m.Deadline > 0 {
		m.Deadline = time.Now().Add(time.Duration(m.Deadline)).UnixNano()
	} else {
		m.Deadline = 0
	}
	b.self.Receive([]*kervipb.Msg{m})
}

// endInCallLocked counts a call from another node, answered to reply, as
// ended.
func (b *Bridge) endInCallLocked(reply string) {
	rest := strings.TrimPrefix(reply, b.p+".in.")
	from, _, _ := strings.Cut(rest, ".")
	if b.inBy[from]--; b.inBy[from] <= 0 {
		delete(b.inBy, from)
	}
}

// onControl serves node from's control requests. The node they are
// about is from, whatever their "node" says.
func (b *Bridge) onControl(from string, msg *nats.Msg) {
	var c control
	if err := json.Unmarshal(msg.Data, &c); err != nil {
		b.respond(msg, controlReply{Error: "cannot read the control request: " + err.Error()})
		return
	}
	if c.Node != "" && c.Node != from {
		b.respond(msg, controlReply{Error: fmt.Sprintf("node %q sent a control request as node %q", from, c.Node)})
		return
	}
	c.Node = from
	switch c.Op {
	case "time":
		b.respond(msg, controlReply{Time: b.cfg.Now().UnixNano()})
	case "catalogue":
		b.serveCatalogue(msg, c.After)
	case "follow":
		b.respond(msg, controlReply{Refused: b.follow(c.Node, c.Epoch, c.IDs)})
	case "unfollow":
		b.mu.Lock()
		if b.fepoch[c.Node] == c.Epoch {
			for _, id := range c.IDs {
				b.unfollowLocked(c.Node, id)
			}
		}
		b.mu.Unlock()
	case "cancel":
		if !strings.HasPrefix(c.Reply, b.p+".in."+from+".") {
			return // only the caller cancels its call
		}
		b.mu.Lock()
		seq, ok := b.byReply[c.Reply]
		b.mu.Unlock()
		if ok {
			b.self.Receive([]*kervipb.Msg{{Kind: kervipb.Kind_KIND_CANCEL, Seq: seq}})
		}
	default:
		b.respond(msg, controlReply{Error: fmt.Sprintf("unknown operation %q", c.Op)})
	}
}

func (b *Bridge) respond(msg *nats.Msg, r controlReply) {
	if msg.Reply == "" {
		return
	}
	data, _ := json.Marshal(r)
	b.out.ctrl(outMsg{subj: msg.Reply, data: data, drop: true})
	b.out.kick()
}

// serveCatalogue answers a page of this node's catalogue: the entries
// after the id after, sorted, then KIND_CATALOGUE_SYNCED with the
// sequence number of the last change (seq), flag set if more pages
// follow. It is queued with the changes, so a change published before it
// is in it.
func (b *Bridge) serveCatalogue(msg *nats.Msg, after string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.cat))
	for id := range b.cat {
		if id > after {
			ids = append(ids, id)
		}
	}
	sortStrings(ids)
	f := &kervipb.Frame{}
	size := 0
	more := false
	for i, id := range ids {
		if i == catPage || i > 0 && size+b.cat[id].SizeVT() > catPageBytes {
			more = true
			break
		}
		size += b.cat[id].SizeVT()
		f.Msgs = append(f.Msgs, b.cat[id])
	}
	f.Msgs = append(f.Msgs, &kervipb.Msg{Kind: kervipb.Kind_KIND_CATALOGUE_SYNCED, Seq: b.catSeq, Epoch: b.epoch, Flag: more})
	data, _ := f.MarshalVT()
	if msg.Reply != "" {
		b.out.ctrl(outMsg{subj: msg.Reply, data: data, drop: true})
		b.out.kick()
	}
}

// follow makes node follow ids of this node: their events are published
// from now on, and the last one of each at once. It returns the ids it
// refused, with why.
func (b *Bridge) follow(node string, epoch uint64, ids []string) map[string]string {
	var refused map[string]string
	var subscribe []*kervipb.Msg
	b.mu.Lock()
	if old, ok := b.fepoch[node]; ok && old != epoch {
		b.forgetLocked(node) // what an earlier run of the node followed
	}
	b.fepoch[node] = epoch
	for _, id := range ids {
		if b.cat[id] == nil || b.cat[id].GetComponent().GetKind() != kervipb.ComponentKind_COMPONENT_KIND_VALUE {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[id] = fmt.Sprintf("node %q owns no value %q", b.cfg.Node, id)
			continue
		}
		f := b.follows[id]
		if f == nil {
			f = map[string]bool{}
			b.follows[id] = f
			subscribe = append(subscribe, &kervipb.Msg{Kind: kervipb.Kind_KIND_SUBSCRIBE, Id: id})
		} else if last := b.lastOut[id]; last != nil {
			b.out.event(id, last) // the new follower's first event; others drop it
		}
		f[node] = true
	}
	b.mu.Unlock()
	if len(subscribe) > 0 {
		// The hub sends the bridge the last event of each id at once.
		b.self.Receive(subscribe)
	}
	b.out.kick()
	return refused
}

func (b *Bridge) unfollowLocked(node, id string) {
	f := b.follows[id]
	if !f[node] {
		return
	}
	delete(f, node)
	if len(f) == 0 {
		b.dropFollowsLocked(id)
	}
}

// onCatalogue applies a change of another node's catalogue.
func (b *Bridge) onCatalogue(msg *nats.Msg) {
	node := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	if node == b.cfg.Node {
		return
	}
	m := &kervipb.Msg{}
	if err := m.UnmarshalVT(msg.Data); err != nil {
		b.log.Warn("nodes: unreadable catalogue change", "from", node, "error", err)
		return
	}
	b.mu.Lock()
	r := b.nodes[node]
	b.mu.Unlock()
	if r == nil {
		return // the snapshot when it comes online has it
	}
	// After the snapshot it follows reached the hub, not before.
	r.catMu.Lock()
	defer r.catMu.Unlock()
	b.mu.Lock()
	if !r.catSynced || r.port == nil || m.Epoch != r.epoch || m.Seq <= r.catSeq {
		b.mu.Unlock()
		return // the next snapshot has it
	}
	if m.Seq != r.catSeq+1 {
		r.catSynced = false // a change was lost: read the catalogue anew
		b.mu.Unlock()
		r.poke()
		return
	}
	r.catSeq = m.Seq
	p := r.port
	var in *kervipb.Msg
	switch m.Kind {
	case kervipb.Kind_KIND_CATALOGUE:
		if b.cfg.LocalOnly(m.Id) {
			break
		}
		r.ids[m.Id] = true
		in = &kervipb.Msg{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: m.Id, Component: m.Component}
	case kervipb.Kind_KIND_RETIRE:
		if r.ids[m.Id] {
			delete(r.ids, m.Id)
			in = &kervipb.Msg{Kind: kervipb.Kind_KIND_RETIRE, Id: m.Id}
		}
	}
	b.mu.Unlock()
	if in != nil {
		p.Receive([]*kervipb.Msg{in})
	}
}

// onHeartbeat notes that a node is alive.
func (b *Bridge) onHeartbeat(msg *nats.Msg) {
	node := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	if node == b.cfg.Node {
		return
	}
	var hb heartbeat
	if err := json.Unmarshal(msg.Data, &hb); err != nil || hb.Node != node {
		b.log.Warn("nodes: unreadable heartbeat", "from", node)
		return
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	r := b.nodes[node]
	if hb.Bye {
		b.mu.Unlock()
		if r != nil && r.epoch == hb.Epoch {
			b.offline(r, "it stopped")
		}
		return
	}
	if r == nil {
		r = b.newRemote(node)
	}
	restarted := r.epoch != 0 && r.epoch != hb.Epoch
	gap := r.epoch == hb.Epoch && hb.Seq != r.hbSeq+1
	r.seen = time.Now()
	r.version = hb.Version
	r.hbSeq = hb.Seq
	wasOnline := r.online
	offsetChanged := time.Duration(hb.Offset) != r.offset
	r.offset = time.Duration(hb.Offset)
	if r.catSynced && hb.Epoch == r.epoch && hb.Cat > r.catSeq {
		r.catSynced = false // a catalogue change did not arrive
	}
	b.mu.Unlock()
	if restarted {
		b.offline(r, "it restarted")
		b.forget(r, hb.Epoch)
	}
	if restarted || !wasOnline {
		b.online(r, hb.Epoch)
	} else if gap {
		// Heartbeats were lost, maybe events with them: ask again.
		b.mu.Lock()
		r.refollow = true
		b.mu.Unlock()
		r.poke()
	} else if offsetChanged {
		b.tell(r)
	}
	if hb.Offset > int64(time.Second) || hb.Offset < -int64(time.Second) {
		b.warnClock(r, time.Duration(hb.Offset))
	}
	b.mu.Lock()
	poke := !r.catSynced || r.refollow
	b.mu.Unlock()
	if poke {
		r.poke()
	}
}

func (b *Bridge) newRemote(node string) *remote {
	r := &remote{name: node, ids: map[string]bool{}, want: map[string]bool{}, subs: map[string]*nats.Subscription{},
		lastIn: map[string]evNum{}, kick: make(chan struct{}, 1), rejected: map[string]bool{}}
	b.nodes[node] = r
	subj := natsnode.ToPrefix(b.cfg.App, b.cfg.Node) + node + ".>"
	if s, err := b.nc.Subscribe(subj, b.serveIn); err != nil {
		b.log.Error("nodes: cannot take another node's requests", "peer", node, "error", err)
	} else {
		_ = s.SetPendingLimits(65536, 64<<20)
		b.subs = append(b.subs, s)
	}
	b.wg.Add(1)
	go b.work(r)
	return r
}

func (r *remote) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// online brings node r online: a proxy port in the hub, then its
// catalogue, then the values processes here follow.
func (b *Bridge) online(r *remote, epoch uint64) {
	b.mu.Lock()
	if r.online || b.closed {
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	port, err := b.cfg.Hub.AttachNode(r.name, func(ms []*kervipb.Msg) error { return b.fromPort(r, ms) })
	if err != nil {
		b.log.Error("nodes: cannot attach node", "node", r.name, "error", err)
		return
	}
	b.mu.Lock()
	if b.closed {
		// Closed meanwhile: Close did not see the port.
		b.mu.Unlock()
		port.Detach()
		return
	}
	r.port, r.online, r.ready, r.epoch = port, true, false, epoch
	r.catSynced, r.refollow = false, true
	r.since = time.Now()
	st := r.state()
	b.mu.Unlock()
	b.log.Info("nodes: node online", "peer", r.name, "version", st.Version)
	b.notify(st)
	r.poke()
}

// offline takes node r offline: its ids stay, with no running owner
// (calls fail with ErrOwnerGone naming the node), and what it follows
// here is kept for ForgetAfter.
func (b *Bridge) offline(r *remote, why string) {
	b.mu.Lock()
	if !r.online {
		b.mu.Unlock()
		return
	}
	p := r.port
	r.port, r.online, r.ready, r.catSynced = nil, false, false, false
	r.since = time.Now()
	for seq, c := range b.calls {
		if c == r {
			delete(b.calls, seq)
		}
	}
	// The calls it made here are cancelled: nobody waits for them.
	var cancels []*kervipb.Msg
	from := b.p + ".in." + r.name + "."
	for seq, reply := range b.inCalls {
		if strings.HasPrefix(reply, from) {
			cancels = append(cancels, &kervipb.Msg{Kind: kervipb.Kind_KIND_CANCEL, Seq: seq})
		}
	}
	st := r.state()
	b.mu.Unlock()
	if p != nil {
		p.Detach()
	}
	if len(cancels) > 0 {
		b.self.Receive(cancels)
	}
	b.log.Warn("nodes: node offline; its values are stale and calls to it fail", "peer", r.name, "why", why)
	b.notify(st)
}

// forget drops what node r followed here, unless it follows from run
// epoch (0: whatever run).
func (b *Bridge) forget(r *remote, epoch uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if epoch != 0 && b.fepoch[r.name] == epoch {
		return // the new run follows already
	}
	b.forgetLocked(r.name)
}

func (b *Bridge) forgetLocked(node string) {
	for id := range b.follows {
		b.unfollowLocked(node, id)
	}
	delete(b.fepoch, node)
}

func (b *Bridge) notify(st NodeState) {
	if b.cfg.OnNode != nil {
		b.cfg.OnNode(st)
	}
}

func (b *Bridge) tell(r *remote) {
	b.mu.Lock()
	st := r.state()
	b.mu.Unlock()
	b.notify(st)
}

// warnClock warns about a node's clock, once a minute at most.
func (b *Bridge) warnClock(r *remote, off time.Duration) {
	b.mu.Lock()
	last := r.warned
	if !last.IsZero() && time.Since(last) < time.Minute {
		b.mu.Unlock()
		return
	}
	r.warned = time.Now()
	b.mu.Unlock()
	b.log.Warn("nodes: a node's clock is off by more than a second; its values' times are its own",
		"peer", r.name, "offset", off.Round(time.Millisecond))
}

// work keeps node r in step: it imports its catalogue and follows what
// processes here follow, whenever something changed.
func (b *Bridge) work(r *remote) {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-r.kick:
		}
		b.mu.Lock()
		online, synced := r.online, r.catSynced
		b.mu.Unlock()
		if !online {
			continue
		}
		if !synced {
			if err := b.syncCatalogue(r); err != nil {
				b.log.Debug("nodes: catalogue not read yet", "peer", r.name, "error", err)
				continue // the next heartbeat pokes again
			}
		}
		if err := b.syncFollows(r); err != nil {
			b.log.Debug("nodes: follows not sent yet", "peer", r.name, "error", err)
		}
	}
}

// syncCatalogue reads node r's catalogue and makes the hub's copy match it.
func (b *Bridge) syncCatalogue(r *remote) error {
	entries := map[string]*kervipb.Msg{}
	var seq uint64
	after := ""
	for {
		data, _ := json.Marshal(control{Op: "catalogue", Node: b.cfg.Node, After: after})
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		msg, err := b.nc.RequestWithContext(ctx, natsnode.CtlSubject(b.cfg.App, r.name, b.cfg.Node), data)
		cancel()
		if err != nil {
			return err
		}
		f := &kervipb.Frame{}
		if err := f.UnmarshalVT(msg.Data); err != nil || len(f.Msgs) == 0 {
			return fmt.Errorf("node %q sent a catalogue that cannot be read", r.name)
		}
		last := f.Msgs[len(f.Msgs)-1]
		if last.Kind != kervipb.Kind_KIND_CATALOGUE_SYNCED {
			return fmt.Errorf("node %q sent a catalogue page without its end", r.name)
		}
		if after != "" && last.Seq != seq {
			return fmt.Errorf("node %q's catalogue changed while it was read", r.name)
		}
		seq = last.Seq
		for _, m := range f.Msgs[:len(f.Msgs)-1] {
			if m.Kind != kervipb.Kind_KIND_CATALOGUE {
				continue
			}
			// The next page is after every id of this one, taken or not
			// (a page of ids local here would be asked for again, forever).
			after = m.Id
			if !b.cfg.LocalOnly(m.Id) {
				entries[m.Id] = m
			}
		}
		if !last.Flag {
			break
		}
		if after == "" {
			return fmt.Errorf("node %q sent an empty catalogue page", r.name)
		}
	}
	// The changes after the snapshot wait until it reached the hub.
	r.catMu.Lock()
	defer r.catMu.Unlock()
	b.mu.Lock()
	p := r.port
	if p == nil {
		b.mu.Unlock()
		return errors.New("offline")
	}
	var in []*kervipb.Msg
	for id := range r.ids {
		if entries[id] == nil {
			in = append(in, &kervipb.Msg{Kind: kervipb.Kind_KIND_RETIRE, Id: id})
			delete(r.ids, id)
		}
	}
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	sortStrings(ids)
	for _, id := range ids {
		r.ids[id] = true
		in = append(in, &kervipb.Msg{Kind: kervipb.Kind_KIND_ANNOUNCE, Id: id, Component: entries[id].Component})
	}
	r.catSeq, r.catSynced = seq, true
	// The hub tells the port anew of the interest in each id announced;
	// what processes here stopped following while the node was offline
	// (the hub had no port to tell) is forgotten.
	clear(r.want)
	b.mu.Unlock()
	p.Receive(in)
	// The interest reaches fromPort before syncFollows reads it.
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	err := p.Flush(ctx)
	cancel()
	if err != nil {
		b.log.Debug("nodes: the interest in a node's ids is not known yet", "peer", r.name, "error", err)
	}
	// Events may flow once the ids are the port's: one taken before would
	// be refused by the hub, yet count as received (lastIn), so that the
	// re-follow's copy of it would be dropped as not newer.
	b.mu.Lock()
	if r.port == p {
		r.ready = true
	}
	b.mu.Unlock()
	return nil
}

// syncFollows subscribes to the events of the ids processes here follow
// and asks node r to publish them; with refollow, it asks for every one
// again, which brings their last events.
func (b *Bridge) syncFollows(r *remote) error {
	b.mu.Lock()
	var follow, unfollow []string
	for id := range r.want {
		if r.subs[id] == nil {
			s, err := b.nc.ChanSubscribe(b.p+".ev."+r.name+"."+natsnode.EscapeID(id), b.evCh)
			if err != nil {
				b.mu.Unlock()
				return err
			}
			r.subs[id] = s
			follow = append(follow, id)
		} else if r.refollow {
			follow = append(follow, id)
		}
	}
	for id, s := range r.subs {
		if !r.want[id] {
			_ = s.Unsubscribe()
			delete(r.subs, id)
			delete(r.lastIn, id)
			unfollow = append(unfollow, id)
		}
	}
	r.refollow = false
	b.mu.Unlock()
	if len(unfollow) > 0 {
		data, _ := json.Marshal(control{Op: "unfollow", Node: b.cfg.Node, Epoch: b.epoch, IDs: unfollow})
		if err := b.nc.Publish(natsnode.CtlSubject(b.cfg.App, r.name, b.cfg.Node), data); err != nil {
			return err
		}
	}
	for len(follow) > 0 {
		n := min(len(follow), 512)
		data, _ := json.Marshal(control{Op: "follow", Node: b.cfg.Node, Epoch: b.epoch, IDs: follow[:n]})
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		msg, err := b.nc.RequestWithContext(ctx, natsnode.CtlSubject(b.cfg.App, r.name, b.cfg.Node), data)
		cancel()
		if err != nil {
			b.mu.Lock()
			r.refollow = true
			b.mu.Unlock()
			return err
		}
		var rep controlReply
		if json.Unmarshal(msg.Data, &rep) == nil {
			for id, why := range rep.Refused {
				b.log.Warn("nodes: a follow was refused", "peer", r.name, "id", id, "error", why)
			}
		}
		follow = follow[n:]
	}
	return nil
}

// drainEvents hands other nodes' events to the hub, in batches, in the
// order they came.
func (b *Bridge) drainEvents() {
	defer b.wg.Done()
	var batch []*kervipb.Msg
	var port plumb.Port
	flush := func() {
		if len(batch) > 0 && port != nil {
			port.Receive(batch)
		}
		batch = batch[:0]
	}
	for {
		var msg *nats.Msg
		select {
		case <-b.ctx.Done():
			return
		case msg = <-b.evCh:
		}
		b.mu.Lock()
		for n := 0; msg != nil && n < 1024; n++ {
			if p, m := b.takeEventLocked(msg); m != nil {
				if p != port {
					b.mu.Unlock()
					flush()
					b.mu.Lock()
					port = p
				}
				batch = append(batch, m)
			}
			msg = nil
			if n+1 < 1024 { // never take a message the batch has no room for
				select {
				case msg = <-b.evCh:
				default:
				}
			}
		}
		b.mu.Unlock()
		flush()
		port = nil
	}
}

// takeEventLocked reads an event of another node; it returns nil for one
// that is not newer than what came before (a re-sync), or that comes
// while its node is offline or not yet re-synchronised.
func (b *Bridge) takeEventLocked(msg *nats.Msg) (plumb.Port, *kervipb.Msg) {
	rest := strings.TrimPrefix(msg.Subject, b.p+".ev.")
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return nil, nil
	}
	r := b.nodes[rest[:i]]
	if r == nil || r.port == nil || !r.ready {
		return nil, nil
	}
	m := &kervipb.Msg{}
	if err := m.UnmarshalVT(msg.Data); err != nil || m.Kind != kervipb.Kind_KIND_EVENT || natsnode.EscapeID(m.Id) != rest[i+1:] {
		b.log.Warn("nodes: unreadable event", "from", r.name, "subject", msg.Subject)
		return nil, nil
	}
	// Only the node's current run (its heartbeat's) publishes; a newer
	// run's first events wait for its heartbeat, which re-syncs them.
	last := r.lastIn[m.Id]
	if m.Epoch != r.epoch || last.epoch == m.Epoch && m.Seq <= last.seq {
		return nil, nil
	}
	r.lastIn[m.Id] = evNum{m.Epoch, m.Seq}
	m.Seq, m.Epoch = 0, 0
	return r.port, m
}

// beat publishes this node's heartbeat, measures its clock against the
// main node's, and takes silent nodes offline.
func (b *Bridge) beat() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Heartbeat)
	defer t.Stop()
	n := 0
	for {
		if b.cfg.Node != b.cfg.Main && n%10 == 0 {
			b.measureClock()
		}
		n++
		b.mu.Lock()
		cat := b.catSeq
		b.mu.Unlock()
		hb := heartbeat{Node: b.cfg.Node, Epoch: b.epoch, Seq: b.hbSeq.Add(1), Version: b.cfg.Version,
			Time: b.cfg.Now().UnixNano(), Offset: b.offset.Load(), Cat: cat}
		data, _ := json.Marshal(hb)
		b.out.ctrl(outMsg{subj: b.subject("hb", b.cfg.Node), data: data, drop: true})
		b.out.kick()
		b.mu.Lock()
		var silent, forgotten []*remote
		for _, r := range b.nodes {
			if r.online && time.Since(r.seen) > b.cfg.OfflineAfter {
				silent = append(silent, r)
			}
			if _, follows := b.fepoch[r.name]; follows && !r.online && !r.since.IsZero() && time.Since(r.since) > b.cfg.ForgetAfter {
				forgotten = append(forgotten, r)
			}
		}
		b.mu.Unlock()
		for _, r := range silent {
			b.offline(r, fmt.Sprintf("no heartbeat for %v", b.cfg.OfflineAfter))
		}
		for _, r := range forgotten {
			b.forget(r, 0)
			b.mu.Lock()
			clear(r.lastIn)
			b.mu.Unlock()
		}
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// measureClock measures this node's clock offset to the main node's, by
// a round trip.
func (b *Bridge) measureClock() {
	if !b.nc.IsConnected() {
		return
	}
	data, _ := json.Marshal(control{Op: "time", Node: b.cfg.Node})
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.Heartbeat)
	defer cancel()
	t0 := b.cfg.Now()
	msg, err := b.nc.RequestWithContext(ctx, natsnode.CtlSubject(b.cfg.App, b.cfg.Main, b.cfg.Node), data)
	t1 := b.cfg.Now()
	if err != nil {
		return
	}
	var rep controlReply
	if json.Unmarshal(msg.Data, &rep) != nil || rep.Time == 0 {
		return
	}
	mid := t0.UnixNano() + (t1.UnixNano()-t0.UnixNano())/2
	off := time.Duration(mid - rep.Time)
	old := time.Duration(b.offset.Swap(int64(off)))
	if (off > time.Second || off < -time.Second) && (old <= time.Second && old >= -time.Second || old == 0) {
		b.log.Warn("nodes: this node's clock is off the main node's by more than a second; set it with NTP",
			"offset", off.Round(time.Millisecond))
	}
	if b.cfg.OnNode != nil && (off-old > time.Millisecond || old-off > time.Millisecond) {
		b.cfg.OnNode(NodeState{Name: b.cfg.Node, Online: true, Version: b.cfg.Version, Offset: off})
	}
}

// ---- helpers ----

func shallow(m *kervipb.Msg) *kervipb.Msg {
	return &kervipb.Msg{
		Kind: m.Kind, Id: m.Id, Seq: m.Seq, Type: m.Type, Number: m.Number, Flag: m.Flag,
		Text: m.Text, Instant: m.Instant, Ts: m.Ts, Args: m.Args, Result: m.Result,
		Error: m.Error, Deadline: m.Deadline, Component: m.Component, Module: m.Module,
	}
}

func marshal(m *kervipb.Msg) []byte {
	data, _ := m.MarshalVT()
	return data
}

func sortStrings(s []string) { slices.Sort(s) }
