package ipc

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kervi/kervi-go/internal/kervipb"
)

// Limits bound the messages and the queues of an application. The hub and
// every process of the application apply the same limits, in process mode
// and in-process mode alike. A zero field means its default.
type Limits struct {
	// MaxMessageSize bounds one message: a value's content, or an action's
	// arguments or result, or the description of a component (its name,
	// unit, options), with its id. A larger one is refused where it is
	// made, with ErrTooLarge naming the id and the size. Default 4 MiB.
	MaxMessageSize int
	// QueueEvents and QueueBytes bound the value events waiting for one
	// process: in the hub, for a process that is slow to read them, and in
	// the process, for subscribers that are slow to handle them. Past the
	// bound the waiting events are coalesced to the latest of each id (see
	// the package doc). Defaults 65536 events and 64 MiB. A consumer that
	// keeps up, or that is coalesced because it stalled, holds far less:
	// its producers wait once 4096 events or 4 MiB wait for it. The bound
	// is for producers that never wait (a publisher's subscribers in its
	// own process); a process's queues hold at most about twice
	// QueueBytes, and the hub about QueueBytes per module.
	QueueEvents int
	QueueBytes  int64
	// MaxCalls bounds the calls and sets in flight to one module, and from
	// one process; more are refused with ErrBusy. Default 1024.
	MaxCalls int
	// MaxIDs bounds how many ids one process may own, and how many it may
	// subscribe to. Default 65536.
	MaxIDs int
	// StallTimeout bounds how long a process that stops reading its value
	// events (it is stopped, or wedged) holds back the publishers of those
	// events: a process that keeps reading gets every event, and its
	// publishers are slowed to its pace; once it read nothing for this
	// long, its events are coalesced instead and nobody waits for it until
	// it has caught up. The same holds between a publisher and the hub.
	// Default 500 ms.
	StallTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxMessageSize = 4 << 20
	DefaultQueueEvents    = 65536
	DefaultQueueBytes     = 64 << 20
	DefaultMaxCalls       = 1024
	DefaultMaxIDs         = 65536
	DefaultStallTimeout   = 500 * time.Millisecond
)

// MaxIDLength is the longest id there may be, in bytes.
const MaxIDLength = 200

// frameBytes bounds one batch on a stream; a single message larger than
// this goes in a batch of its own.
const frameBytes = 1 << 20

// softQueue is how many events (and softBytes how many bytes) wait for a
// process before its producers wait for it to make progress.
const (
	softQueue = 4096
	softBytes = 4 << 20
)

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.QueueEvents <= 0 {
		l.QueueEvents = DefaultQueueEvents
	}
	if l.QueueBytes <= 0 {
		l.QueueBytes = DefaultQueueBytes
	}
	if l.MaxCalls <= 0 {
		l.MaxCalls = DefaultMaxCalls
	}
	if l.MaxIDs <= 0 {
		l.MaxIDs = DefaultMaxIDs
	}
	if l.StallTimeout <= 0 {
		l.StallTimeout = DefaultStallTimeout
	}
	return l
}

// MaxFrameSize is the largest frame a stream carries under l: what gRPC
// must accept.
func (l Limits) MaxFrameSize() int {
	l = l.WithDefaults()
	return max(l.MaxMessageSize, frameBytes) + 64<<10
}

// box returns the bounds of a mailbox under l.
func (l Limits) box() boxLimits {
	l = l.WithDefaults()
	return boxLimits{
		events:     l.QueueEvents,
		eventBytes: l.QueueBytes,
		soft:       min(softQueue, l.QueueEvents/2),
		softBytes:  min(softBytes, l.QueueBytes/2),
		stall:      l.StallTimeout,
		calm:       l.StallTimeout,
		// Control messages are bounded by the calls in flight; this bound
		// only catches a process that stopped reading altogether.
		ctrl:       4*l.MaxCalls + 4096,
		ctrlBytes:  2*l.QueueBytes + 4*int64(l.MaxMessageSize),
		frame:      maxBatch,
		frameBytes: frameBytes,
	}
}

// maxBatch is the most messages one Frame carries.
const maxBatch = 512

// ValidateID reports whether id can name a component: 1 to MaxIDLength
// bytes of letters, digits and "_-.:/". The error matches ErrInvalidID.
func ValidateID(id string) error {
	if id == "" || len(id) > MaxIDLength {
		return &Error{Code: CodeInvalidID, ID: id, Msg: fmt.Sprintf("invalid id of %d bytes: an id has 1 to %d", len(id), MaxIDLength)}
	}
	for i := 0; i < len(id); i++ {
		switch r := id[i]; {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '_' || r == '-' || r == '.' || r == ':' || r == '/':
		default:
			c, _ := utf8.DecodeRuneInString(id[i:])
			return &Error{Code: CodeInvalidID, ID: id, Msg: fmt.Sprintf("invalid id: %q is not allowed (letters, digits and _-.:/ are)", c)}
		}
	}
	return nil
}

// MaxMetaKeyLength bounds the length of a key of Description.Meta, in bytes.
const MaxMetaKeyLength = 64

// ValidateMeta reports whether key and value can be an entry of a
// Description's Meta. A key is namespaced by its user, such as "dashboard":
// 1 to MaxMetaKeyLength bytes of ASCII letters, digits and "_-.", starting
// with a letter. A value is valid UTF-8. The size of the whole description
// is bounded by Limits.MaxMessageSize, which announcing the component checks
// (ErrTooLarge).
func ValidateMeta(key, value string) error {
	if err := validateMetaKey(key); err != nil {
		return err
	}
	return checkText("metadata "+strconv.Quote(key), value)
}

func validateMetaKey(key string) error {
	bad := len(key) == 0 || len(key) > MaxMetaKeyLength
	for i := 0; i < len(key) && !bad; i++ {
		switch c := key[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'):
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("metadata key %q is not valid: 1 to %d bytes of ASCII letters, digits and \"_-.\", starting with a letter",
			validText(key), MaxMetaKeyLength)
	}
	return nil
}

// maxText bounds text the runtime sends on its own: longer text is cut,
// so that an error message always fits in a message, whatever the limits.
const maxText = 64 << 10

// validText makes s valid UTF-8 of at most maxText bytes, for text the
// runtime sends on its own (such as the message of an error that user code
// returned). Cut text ends with its length: "...…(2097152 bytes)".
func validText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxText {
		cut := maxText - 32
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
	}
	return s
}

// checkText refuses text that is not valid UTF-8; what names it.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s %q is not valid UTF-8", what, validText(s))
	}
	return nil
}

// checkValue refuses the content of a value event or set that cannot cross
// processes: text that is not valid UTF-8, NaN, or an event larger than
// lim.MaxMessageSize. The error is an *Error naming id.
func checkValue(id, module string, v Value, maxSize int) error {
	switch v.typ {
	case TypeNumber:
		if math.IsNaN(v.num) {
			return &Error{Code: CodeWrongType, ID: id, Module: module, Msg: "NaN is not a number"}
		}
	case TypeString, TypeEnum, TypeColor:
		if !utf8.ValidString(v.text) {
			return &Error{Code: CodeWrongType, ID: id, Module: module,
				Msg: fmt.Sprintf("a %s value must be valid UTF-8 text (%d bytes given are not)", v.typ, len(v.text))}
		}
		if n := len(v.text) + len(id) + 64; n > maxSize {
			return &Error{Code: CodeTooLarge, ID: id, Module: module,
				Msg: fmt.Sprintf("a %s value of %d bytes is larger than the limit of %d bytes", v.typ, len(v.text), maxSize)}
		}
	}
	return nil
}

// nestedSize is the encoded size of m's nested messages.
func nestedSize(m *kervipb.Msg) int {
	n := 0
	for _, a := range m.Args {
		n += protowire.SizeBytes(proto.Size(a)) + 1
	}
	if m.Result != nil {
		n += protowire.SizeBytes(proto.Size(m.Result)) + 1
	}
	if m.Error != nil {
		n += protowire.SizeBytes(proto.Size(m.Error)) + 1
	}
	if m.Component != nil {
		n += protowire.SizeBytes(proto.Size(m.Component)) + 1
	}
	return n
}

// dataSize is the encoded size of args.
func dataSize(ds ...*kervipb.Data) int {
	n := 0
	for _, d := range ds {
		if d != nil {
			n += protowire.SizeBytes(proto.Size(d)) + 1
		}
	}
	return n
}
