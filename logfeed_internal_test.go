package kervi

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// A record's texts are bounded, groups flatten, and records about the
// feed's own value stay out of it.
func TestLogFeedRecord(t *testing.T) {
	f := newLogFeed(slog.LevelWarn)
	var console bytes.Buffer
	a := &Application{feed: f}
	log := a.wrapLogger(slog.New(slog.NewTextHandler(&console, nil))).With("module", "sensors").WithGroup("req")

	log.Info("not fed")
	log.Warn(strings.Repeat("é", 5000), "big", strings.Repeat("x", 10000), "n", 3)
	var many []any
	for i := range 10 {
		many = append(many, strings.Repeat(string(rune('a'+i)), 10), strings.Repeat("y", 3000))
	}
	log.Error("many", many...)
	log.Warn("event refused", "id", LogFeedID) // the hub's words about the feed's value

	r := <-f.out
	if r.Module != "sensors" || r.Level != slog.LevelWarn || r.Attrs["req.n"] != "3" {
		t.Errorf("record: %+v", r)
	}
	if len(r.Msg) > LogAttrMax || !strings.HasSuffix(r.Msg, LogCutMarker) || !utf8.ValidString(r.Msg) {
		t.Errorf("message of %d bytes, ends %q", len(r.Msg), r.Msg[len(r.Msg)-20:])
	}
	if big := r.Attrs["req.big"]; len(big) > LogAttrMax || !strings.HasSuffix(big, LogCutMarker) {
		t.Errorf("attribute of %d bytes", len(big))
	}
	r = <-f.out
	size := len(r.Msg)
	for k, v := range r.Attrs {
		size += len(k) + len(v)
	}
	if size > LogRecordMax+100 || r.Attrs["kervi.cut"] != "5 attributes left out" {
		t.Errorf("record of %d bytes: kervi.cut=%q", size, r.Attrs["kervi.cut"])
	}
	select {
	case r := <-f.out:
		t.Errorf("fed: %+v", r)
	default:
	}
	if !strings.Contains(console.String(), "not fed") {
		t.Error("the console lost a record")
	}
}

// Beyond the rate, records are counted and the count is fed once the rate
// allows; the history keeps what was fed.
func TestLogFeedRate(t *testing.T) {
	f := newLogFeed(slog.LevelWarn)
	// The rate's clock stands still during the flood, however slow the
	// machine, then moves on a second for the retry timer.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	f.now = func() time.Time { return time.Unix(0, clock.Load()) }
	f.refill = f.now()
	h := &feedHandler{inner: slog.DiscardHandler, feed: f}
	log := slog.New(h)
	for range LogFeedRate + 50 {
		log.Warn("flood")
	}
	clock.Add(int64(time.Second))
	n := 0
	for n < LogFeedRate {
		if r := <-f.out; r.Msg == "flood" {
			n++
		}
	}
	r := <-f.out // fed by the retry timer once a token is back
	if r.Msg != "50 log records dropped" || r.Attrs["dropped"] != "50" {
		t.Errorf("after the flood: %+v", r)
	}
	if hist := f.history(); len(hist) != LogHistory || hist[len(hist)-1].Msg != r.Msg {
		t.Errorf("history of %d records", len(hist))
	}
	f.close()
}
