package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
)

// liveServer runs the test application's modules on an ipctest hub, and a
// dashboard Server on a module bus of its own, served by httptest.
func liveServer(t *testing.T, opts ...dashboard.Option) (*dashboard.Server, *ipc.Bus, string) {
	t.Helper()
	s, bus, url, _ := liveServerHub(t, opts...)
	return s, bus, url
}

// liveServerHub is liveServer, with the hub.
func liveServerHub(t *testing.T, opts ...dashboard.Option) (*dashboard.Server, *ipc.Bus, string, *ipctest.Hub) {
	t.Helper()
	h := ipctest.New()
	t.Cleanup(h.Close)
	for _, m := range []struct {
		name  string
		setup func(context.Context, *ipc.Bus) error
	}{{"fan", fanSetup}, {"load", loadSetup}} {
		if _, err := h.Module(m.name, m.setup); err != nil {
			t.Fatal(err)
		}
	}
	var s *dashboard.Server
	bus, err := h.Module("dashboard", func(ctx context.Context, bus *ipc.Bus) error {
		var err error
		s, err = dashboard.New(bus, opts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, bus, ts.URL, h
}

// msg is any message of the server.
type msg struct {
	T       string            `json:"t"`
	Entries []ipc.Description `json:"entries"`
	Entry   ipc.Description   `json:"entry"`
	ID      string            `json:"id"`
	Values  []value           `json:"values"`
	Ref     int               `json:"ref"`
	Result  json.RawMessage   `json:"result"`
	Error   string            `json:"error"`
	Status  int               `json:"status"`
	Layout  layoutJSON        `json:"layout"`
}

// wsClient is a test's WebSocket client, which keeps the latest value of
// each id it was sent.
type wsClient struct {
	t      *testing.T
	conn   *websocket.Conn
	values map[string]any
	cat    map[string]ipc.Description
	nmsg   int
}

func dial(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn, values: map[string]any{}, cat: map[string]ipc.Description{}}
}

// next reads one message, applying it to the client's state.
func (c *wsClient) next(ctx context.Context) msg {
	c.t.Helper()
	var m msg
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v (%s)", err, c.summary())
	}
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("%v in %s", err, b)
	}
	c.nmsg++
	switch m.T {
	case "catalogue":
		for _, d := range m.Entries {
			c.cat[d.ID] = d
		}
	case "entry":
		c.cat[m.Entry.ID] = m.Entry
	case "retire":
		delete(c.cat, m.ID)
		delete(c.values, m.ID)
	case "values":
		for _, v := range m.Values {
			c.values[v.ID] = v.Value
		}
	}
	return m
}

// until reads messages until ok returns true, within d; ok is asked first
// with the zero msg, for a state already reached.
func (c *wsClient) until(d time.Duration, what string, ok func(m msg) bool) msg {
	c.t.Helper()
	if ok(msg{}) {
		return msg{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if ctx.Err() != nil {
			c.t.Fatalf("waiting for %s: %v (%s)", what, ctx.Err(), c.summary())
		}
		if m := c.next(ctx); ok(m) {
			return m
		}
	}
}

// summary describes the client's state in a few words.
func (c *wsClient) summary() string {
	return fmt.Sprintf("%d entries, %d values, load.v0 %v, fan.temp %v, %d messages", len(c.cat), len(c.values), c.values["load.v0"], c.values["fan.temp"], c.nmsg)
}

// burst calls load.burst on a goroutine of its own, so that the test's
// clients read while it runs.
func burst(ctx context.Context, bus *ipc.Bus, rounds, bigSize int) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := bus.Call(ctx, "load.burst", rounds, bigSize)
		errc <- err
	}()
	return errc
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// result waits for the result of ref.
func (c *wsClient) result(ref int) msg {
	c.t.Helper()
	return c.until(10*time.Second, fmt.Sprintf("result %d", ref), func(m msg) bool { return m.T == "result" && m.Ref == ref })
}

func TestLive(t *testing.T) {
	_, _, url := liveServer(t)
	c := dial(t, url)

	// First the catalogue, then the latest values.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if m := c.next(ctx); m.T != "catalogue" || c.cat["fan.temp"].Unit != "°C" {
		t.Fatalf("first message: %+v", m)
	}
	c.until(5*time.Second, "initial values", func(msg) bool { return c.values["fan.temp"] == 20.0 && c.values["load.v9"] == 0.0 })

	// A set, its result and the updates it causes (in another module).
	c.send(`{"t":"set","ref":1,"id":"fan.temp","value":42}`)
	if m := c.result(1); m.Error != "" || m.Status != 0 {
		t.Fatalf("set: %+v", m)
	}
	c.until(5*time.Second, "fan.speed 42", func(msg) bool { return c.values["fan.temp"] == 42.0 && c.values["fan.speed"] == 42.0 })

	// A refused set: the owner's error, 400.
	c.send(`{"t":"set","ref":2,"id":"fan.temp","value":-5}`)
	if m := c.result(2); m.Status != 400 || !strings.Contains(m.Error, "outside the range") {
		t.Fatalf("refused set: %+v", m)
	}
	c.send(`{"t":"set","ref":3,"id":"fan.mode","value":"manual"}`)
	if m := c.result(3); m.Error != "" {
		t.Fatalf("enum set: %+v", m)
	}

	// A call and its result.
	c.send(`{"t":"call","ref":4,"id":"fan.activate","args":[true]}`)
	if m := c.result(4); m.Error != "" || string(m.Result) != `"on"` {
		t.Fatalf("call: %+v", m)
	}
	c.send(`{"t":"call","ref":5,"id":"fan.fail"}`)
	if m := c.result(5); m.Status != 502 || !strings.Contains(m.Error, "the fan is stuck") {
		t.Fatalf("failing call: %+v", m)
	}

	// Bad messages get an error result; the connection goes on.
	for _, bad := range []string{
		`not json`,
		`{"t":"nope","ref":6}`,
		`{"t":"set","ref":7,"id":"bad id!","value":1}`,
		`{"t":"set","ref":8,"id":"fan.temp"}`,
		`{"t":"call","ref":9,"id":"fan.activate","args":"x"}`,
		`{"t":"call","ref":10,"id":"fan.activate","args":["x"]}`,
		`{"t":"set","ref":11,"id":"fan.temp","value":"` + strings.Repeat("x", dashboard.DefaultMaxMessage) + `"}`,
	} {
		c.send(bad)
		m := c.until(5*time.Second, "error result", func(m msg) bool { return m.T == "result" })
		if m.Error == "" || m.Status != 400 {
			t.Errorf("%.40s: %+v", bad, m)
		}
	}
	c.send(`{"t":"call","ref":12,"id":"fan.activate","args":[false]}`)
	if m := c.result(12); m.Error != "" || string(m.Result) != `"off"` {
		t.Fatalf("call after bad messages: %+v", m)
	}
}

// TestLiveOrigin: an upgrade from another site is refused.
func TestLiveOrigin(t *testing.T) {
	_, _, url := liveServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/api/live", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"http://evil.example"}},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: %v %v", err, resp)
	}
}

// TestLiveSlowClient: a client that does not read for a while ends on the
// latest value of every id after it resumes, and another client keeps
// receiving meanwhile.
func TestLiveSlowClient(t *testing.T) {
	s, bus, url := liveServer(t)
	slow, fast := dial(t, url), dial(t, url)
	for _, c := range []*wsClient{slow, fast} {
		c.until(5*time.Second, "initial values", func(msg) bool { return c.values["load.v9"] == 0.0 })
	}

	// While the slow client reads nothing, bursts of big values fill its
	// socket buffers; the fast client keeps up with each burst.
	const rounds, bursts = 100, 8
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	allAt := func(c *wsClient, x float64) func(msg) bool {
		return func(msg) bool {
			for _, id := range loadIDs {
				if c.values[id] != x {
					return false
				}
			}
			return true
		}
	}
	var worst time.Duration
	for b := 0; b < bursts; b++ {
		start := time.Now()
		errc := burst(ctx, bus, rounds, 32<<10)
		fast.until(5*time.Second, "fast client on the latest", allAt(fast, rounds))
		worst = max(worst, time.Since(start))
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		for _, id := range loadIDs {
			fast.values[id] = nil
		}
	}
	// load.big is set after the numbers of its round: wait for both.
	bigAt := func(m msg) bool {
		v, _ := slow.values["load.big"].(string)
		return strings.HasPrefix(v, fmt.Sprintf("%d:", rounds))
	}
	slow.until(10*time.Second, "slow client on the latest", func(m msg) bool { return allAt(slow, rounds)(m) && bigAt(m) })
	if st := s.Stats(); st.Stalled != 0 || st.Clients != 2 {
		t.Fatalf("stats: %+v", st)
	}
	t.Logf("%d bursts of %d events: the fast client was on the latest at most %v after each, in %d messages; the slow client ended on the latest in %d messages",
		bursts, rounds*(len(loadIDs)+1), worst, fast.nmsg, slow.nmsg)
}

// TestLiveFlushInterval: values that change faster than the flush interval
// reach a client in at most one message per interval, and it ends on the
// latest of each; a call's result is not held.
func TestLiveFlushInterval(t *testing.T) {
	const every = 200 * time.Millisecond
	_, bus, url := liveServer(t, dashboard.FlushInterval(every))
	c := dial(t, url)
	c.until(5*time.Second, "initial values", func(msg) bool { return c.values["load.v9"] == 0.0 })

	const rounds = 300
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	errc := burst(ctx, bus, rounds, 0)
	msgs := 0
	c.until(10*time.Second, "the latest of every value", func(m msg) bool {
		if m.T == "values" {
			msgs++
		}
		for _, id := range loadIDs {
			if c.values[id] != float64(rounds) {
				return false
			}
		}
		return true
	})
	span := time.Since(start)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if most := int(span/every) + 1; msgs > most {
		t.Fatalf("%d values messages in %v, want at most %d (one per %v)", msgs, span, most, every)
	}

	// Right after a flush, a call's result comes before the next one.
	c.send(`{"t":"call","ref":1,"id":"fan.activate","args":[true]}`)
	t0 := time.Now()
	if m := c.result(1); m.Error != "" {
		t.Fatalf("call: %+v", m)
	}
	if d := time.Since(t0); d >= every {
		t.Errorf("the result took %v, the flush interval is %v", d, every)
	}
	t.Logf("%d rounds of %d values: %d values messages in %v", rounds, len(loadIDs), msgs, span)
}

// TestLiveStalledClient: a client that takes nothing for longer than the
// write timeout is disconnected, and the other one is not.
func TestLiveStalledClient(t *testing.T) {
	s, bus, url := liveServer(t, dashboard.WriteTimeout(200*time.Millisecond))
	stalled, fast := dial(t, url), dial(t, url)
	for _, c := range []*wsClient{stalled, fast} {
		c.until(5*time.Second, "initial values", func(msg) bool { return c.values["load.v9"] == 0.0 })
	}
	// Big values fill the socket buffers of the stalled client.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const rounds = 200
	for i := 0; s.Stats().Stalled == 0; i++ {
		if i == 50 {
			t.Fatalf("stalled client not disconnected: %+v", s.Stats())
		}
		errc := burst(ctx, bus, rounds, 64<<10)
		fast.until(5*time.Second, "fast client on the latest", func(msg) bool {
			v, _ := fast.values["load.big"].(string)
			return strings.HasPrefix(v, fmt.Sprintf("%d:", rounds)) && fast.values["load.v0"] == float64(rounds)
		})
		fast.values["load.big"] = ""
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "stalled client gone", func() error {
		if st := s.Stats(); st.Clients != 1 || st.Stalled != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	// The other client still works.
	fast.send(`{"t":"call","ref":1,"id":"fan.activate","args":[true]}`)
	if m := fast.result(1); m.Error != "" {
		t.Fatalf("call: %+v", m)
	}
}

// TestLiveRetire: a module that restarts without declaring an id retires
// it, and the client is told; the ids it declares again stay, with the
// content they had.
func TestLiveRetire(t *testing.T) {
	_, _, url, h := liveServerHub(t)
	c := dial(t, url)
	c.until(5*time.Second, "initial values", func(msg) bool { return c.values["load.v9"] == 0.0 })
	if err := h.Stop("load"); err != nil {
		t.Fatal(err)
	}
	var retired []string
	if _, err := h.Module("load", func(ctx context.Context, bus *ipc.Bus) error {
		values.NewNumber(bus, "load.v0", "load.v0", values.Output(), values.Initial(7.0))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.until(5*time.Second, "retired", func(m msg) bool {
		if m.T == "retire" {
			retired = append(retired, m.ID)
		}
		_, v9 := c.cat["load.v9"]
		_, big := c.cat["load.big"]
		return !v9 && !big
	})
	if _, ok := c.values["load.v9"]; ok || len(retired) < len(loadIDs) {
		t.Fatalf("retired %v; values %s", retired, c.summary())
	}
	if _, ok := c.cat["load.v0"]; !ok || c.values["load.v0"] != 0.0 {
		t.Fatalf("load.v0: %s", c.summary())
	}
}

// TestCloseLeaks: Close ends every goroutine of the server and its clients.
func TestCloseLeaks(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Module("fan", fanSetup)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	s, err := dashboard.New(bus)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	for range 3 {
		c := dial(t, ts.URL)
		c.until(5*time.Second, "initial values", func(msg) bool { return c.values["fan.temp"] == 20.0 })
	}
	s.Close()
	ts.CloseClientConnections()
	ts.Close()
	http.DefaultClient.CloseIdleConnections()
	eventually(t, 10*time.Second, "goroutines", func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines, %d before", n, before)
		}
		return nil
	})
}
