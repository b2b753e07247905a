package dashboard_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/dashboard"
	"github.com/kervi/kervi-go/dashboard/layout"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
	"github.com/kervi/kervi-go/values"
	"golang.org/x/crypto/bcrypt"
)

// The users of the tests, and their passwords ("<name>-pw"): ann is in
// family, root in admin and family, bob in no group.
var testUsers = sync.OnceValue(func() []dashboard.User {
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost) // fast, for tests
		if err != nil {
			panic(err)
		}
		return string(h)
	}
	return []dashboard.User{
		{Name: "ann", PasswordHash: hash("ann-pw"), Groups: []string{"family"}},
		{Name: "bob", PasswordHash: hash("bob-pw")},
		{Name: "root", PasswordHash: hash("root-pw"), Groups: []string{"admin", "family"}},
	}
})

// homeSetup makes components placed with groups:
//   - home.temp (output) and home.heat (input) on panel "climate", read by
//     family; home.heat written by admin only;
//   - home.door on panel "secret", which its declaration limits to admin;
//   - home.lamp on panel "lights", open until a later module declares it;
//   - home.marker, open, and home.tick, which sets home.lamp, home.door
//     and then home.marker to its argument.
func homeSetup(ctx context.Context, bus *ipc.Bus) error {
	family := []string{"family"}
	values.NewNumber(bus, "home.temp", "Temperature", values.Output(), values.Initial(21.0),
		layout.Value(layout.Placement{Panel: "climate", Read: family}))
	values.NewNumber(bus, "home.heat", "Heating", values.Input(), values.Range(0, 30), values.Initial(19.0),
		layout.Value(layout.Placement{Panel: "climate", Read: family, Write: []string{"admin"}}))
	door := values.NewBool(bus, "home.door", "Door", values.Output(), values.Initial(false),
		layout.Value(layout.Placement{Panel: "secret", PanelSpec: &layout.Spec{Read: []string{"admin"}}}))
	lamp := values.NewNumber(bus, "home.lamp", "Lamp", values.Output(), values.Initial(0.0),
		layout.Value(layout.Placement{Panel: "lights"}))
	marker := values.NewNumber(bus, "home.marker", "Marker", values.Output(), values.Initial(0.0))
	actions.Register(bus, "home.tick", func(n float64) error {
		return errors.Join(lamp.Set(n), door.Set(n > 0), marker.Set(n))
	})
	return nil
}

// lightsSetup declares the panel "lights" for admin only; its component's
// id sorts before home.lamp, so its declaration is the first.
func lightsSetup(ctx context.Context, bus *ipc.Bus) error {
	values.NewNumber(bus, "a.lights", "Lights", values.Output(), values.Initial(1.0),
		layout.Value(layout.Placement{Panel: "lights", PanelSpec: &layout.Spec{Title: "Lights", Read: []string{"admin"}}}))
	return nil
}

// authServer is liveServerHub with the home module and the test users.
func authServer(t *testing.T, opts ...dashboard.Option) (string, *ipctest.Hub) {
	t.Helper()
	h := ipctest.New()
	t.Cleanup(h.Close)
	for _, m := range []struct {
		name  string
		setup func(context.Context, *ipc.Bus) error
	}{{"fan", fanSetup}, {"home", homeSetup}} {
		if _, err := h.Module(m.name, m.setup); err != nil {
			t.Fatal(err)
		}
	}
	var s *dashboard.Server
	_, err := h.Module("dashboard", func(ctx context.Context, bus *ipc.Bus) error {
		var err error
		s, err = dashboard.New(bus, append([]dashboard.Option{dashboard.Users(testUsers()...)}, opts...)...)
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
	return ts.URL, h
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%v in %s", err, a.body)
	}
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, a.body) }

// request makes a request with the session cookie (if not empty) and
// headers given as name, value pairs.
func request(t *testing.T, client *http.Client, method, url, body, cookie string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: dashboard.SessionCookie, Value: cookie})
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// login logs name in and returns the session cookie's value.
func login(t *testing.T, base, name string) string {
	t.Helper()
	a, ck := loginAnswer(t, nil, base, name, name+"-pw")
	if a.status != http.StatusOK || ck == nil {
		t.Fatalf("login %s: %v", name, a)
	}
	return ck.Value
}

// loginAnswer posts a login and returns the answer and its session cookie.
func loginAnswer(t *testing.T, client *http.Client, base, name, password string) (answer, *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": name, "password": password})
	a := request(t, client, "POST", base+"/api/login", string(body), "")
	for _, ck := range (&http.Response{Header: a.header}).Cookies() {
		if ck.Name == dashboard.SessionCookie {
			return a, ck
		}
	}
	return a, nil
}

type sessionBody struct {
	Auth   bool     `json:"auth"`
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Error  string   `json:"error"`
	Login  bool     `json:"login"`
}

func TestLogin(t *testing.T) {
	base, _ := authServer(t, dashboard.SessionLifetime(2*time.Hour))

	var sb sessionBody
	a := request(t, nil, "GET", base+"/api/session", "", "")
	if a.json(t, &sb); a.status != 401 || sb.Error != "login required" || !sb.Login {
		t.Fatalf("session before login: %v", a)
	}

	// A wrong password and an unknown user get the same answer, and no
	// cookie.
	for _, tc := range [][2]string{{"ann", "wrong"}, {"nobody", "ann-pw"}, {"", ""}} {
		a, ck := loginAnswer(t, nil, base, tc[0], tc[1])
		var eb errorBody
		if a.json(t, &eb); a.status != 401 || eb.Error != "wrong user or password" || ck != nil {
			t.Errorf("login %q/%q: %v (cookie %v)", tc[0], tc[1], a, ck)
		}
	}
	if a := request(t, nil, "POST", base+"/api/login", `{"user":`, ""); a.status != 400 {
		t.Errorf("malformed login: %v", a)
	}

	a, ck := loginAnswer(t, nil, base, "ann", "ann-pw")
	if a.json(t, &sb); a.status != 200 || !sb.Auth || sb.User != "ann" || !slices.Equal(sb.Groups, []string{"family"}) {
		t.Fatalf("login: %v", a)
	}
	// The cookie: HttpOnly, SameSite=Strict, Path=/, Max-Age of the
	// lifetime, not Secure over plain HTTP; a 256-bit token.
	raw := a.header.Get("Set-Cookie")
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.MaxAge != 7200 || ck.Secure || len(ck.Value) != 43 {
		t.Fatalf("cookie %q", raw)
	}
	a = request(t, nil, "GET", base+"/api/session", "", ck.Value)
	if a.json(t, &sb); a.status != 200 || sb.User != "ann" {
		t.Fatalf("session: %v", a)
	}
	// Bob has no groups: an empty list.
	bob := login(t, base, "bob")
	a = request(t, nil, "GET", base+"/api/session", "", bob)
	if a.status != 200 || !strings.Contains(string(a.body), `"groups":[]`) {
		t.Fatalf("bob's session: %v", a)
	}

	// Logout: 204, the cookie cleared, the session gone.
	a = request(t, nil, "POST", base+"/api/logout", "", ck.Value)
	cleared := (&http.Response{Header: a.header}).Cookies()
	if a.status != 204 || len(cleared) != 1 || cleared[0].Name != dashboard.SessionCookie || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
		t.Fatalf("logout: %v %q", a, a.header.Values("Set-Cookie"))
	}
	if a := request(t, nil, "GET", base+"/api/session", "", ck.Value); a.status != 401 {
		t.Fatalf("session after logout: %v", a)
	}
	if a := request(t, nil, "GET", base+"/api/catalogue", "", ck.Value); a.status != 401 {
		t.Fatalf("catalogue after logout: %v", a)
	}
	// Bob's session lives on.
	if a := request(t, nil, "GET", base+"/api/catalogue", "", bob); a.status != 200 {
		t.Fatalf("bob after ann's logout: %v", a)
	}
}

// TestLoginTLS: over TLS, the cookie is Secure.
func TestLoginTLS(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Connect("dashboard")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dashboard.New(bus, dashboard.Users(testUsers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewTLSServer(s)
	defer ts.Close()
	a, ck := loginAnswer(t, ts.Client(), ts.URL, "ann", "ann-pw")
	if a.status != 200 || ck == nil || !ck.Secure || !ck.HttpOnly {
		t.Fatalf("login over TLS: %v, cookie %+v", a, ck)
	}
}

func TestLoginRateLimit(t *testing.T) {
	base, _ := authServer(t, dashboard.LoginRateLimit(3, time.Minute))
	for i := range 3 {
		if a, _ := loginAnswer(t, nil, base, "ann", "wrong"); a.status != 401 {
			t.Fatalf("attempt %d: %v", i, a)
		}
	}
	// The fourth, even with the right password, is refused: 429 with
	// Retry-After; so is another user from the same address.
	for _, name := range []string{"ann", "bob"} {
		a, ck := loginAnswer(t, nil, base, name, name+"-pw")
		var eb errorBody
		a.json(t, &eb)
		secs, err := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != 429 || ck != nil || err != nil || secs < 1 || secs > 60 || eb.Error != fmt.Sprintf("too many login attempts; try again in %d s", secs) {
			t.Fatalf("%s over the limit: %v, Retry-After %q", name, a, a.header.Get("Retry-After"))
		}
	}
}

// TestLoginNoUsers: without users, the session says so and there is no
// login.
func TestLoginNoUsers(t *testing.T) {
	_, _, url := liveServer(t)
	var sb sessionBody
	a := request(t, nil, "GET", url+"/api/session", "", "")
	if a.json(t, &sb); a.status != 200 || sb.Auth || strings.TrimSpace(string(a.body)) != `{"auth":false}` {
		t.Fatalf("session: %v", a)
	}
	if a, _ := loginAnswer(t, nil, url, "ann", "ann-pw"); a.status != 404 {
		t.Fatalf("login: %v", a)
	}
	if a := request(t, nil, "POST", url+"/api/logout", "", ""); a.status != 204 {
		t.Fatalf("logout: %v", a)
	}
}

// TestLoginRequired: with users, every route of the API but the session's
// answers 401 without a valid session, also to a forged cookie.
func TestLoginRequired(t *testing.T) {
	base, _ := authServer(t)
	for _, cookie := range []string{"", "forged", strings.Repeat("A", 43)} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/api/catalogue", ""},
			{"GET", "/api/values", ""},
			{"GET", "/api/values/fan.temp", ""},
			{"POST", "/api/values/fan.temp", `{"value": 30}`},
			{"POST", "/api/actions/fan.activate", `{"args": [true]}`},
			{"GET", "/api/history/fan.temp", ""},
			{"GET", "/api/modules", ""},
			{"GET", "/api/logs", ""},
			{"GET", "/api/live", ""},
			{"GET", "/api/no/such/route", ""},
		} {
			a := request(t, nil, r.method, base+r.path, r.body, cookie)
			var sb sessionBody
			if a.json(t, &sb); a.status != 401 || sb.Error != "login required" || !sb.Login {
				t.Errorf("%s %s (cookie %q): %v", r.method, r.path, cookie, a)
			}
		}
		// The WebSocket is refused before upgrading.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h := http.Header{}
		if cookie != "" {
			h.Set("Cookie", dashboard.SessionCookie+"="+cookie)
		}
		_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/live", &websocket.DialOptions{HTTPHeader: h})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("WebSocket without a session (cookie %q): %v %v", cookie, err, resp)
		}
	}
	// The single-page application is served without a session.
	for _, path := range []string{"/", "/index.html", "/app.js"} {
		if a := request(t, nil, "GET", base+path, "", ""); a.status != 200 {
			t.Errorf("GET %s without a session: %d", path, a.status)
		}
	}
	// Nothing of the set was done.
	ann := login(t, base, "ann")
	var v value
	a := request(t, nil, "GET", base+"/api/values/fan.temp", "", ann)
	if a.json(t, &v); v.Value != 20.0 {
		t.Fatalf("fan.temp after refused sets: %v", a)
	}
}

// TestOrigin: a POST with the Origin of another site is refused (403),
// with or without a session; one from the dashboard's own origin is not.
func TestOrigin(t *testing.T) {
	base, _ := authServer(t)
	ann := login(t, base, "ann")
	evil := []string{"Origin", "http://evil.example"}
	for _, r := range []struct{ path, body, cookie string }{
		{"/api/values/fan.temp", `{"value": 30}`, ann},
		{"/api/actions/fan.activate", `{"args": [true]}`, ann},
		{"/api/logout", "", ann},
		{"/api/login", `{"user":"ann","password":"ann-pw"}`, ""},
	} {
		a := request(t, nil, "POST", base+r.path, r.body, r.cookie, evil...)
		var eb errorBody
		if a.json(t, &eb); a.status != 403 || !strings.Contains(eb.Error, "evil.example") {
			t.Errorf("POST %s from another origin: %v", r.path, a)
		}
	}
	if a := request(t, nil, "POST", base+"/api/values/fan.temp", `{"value": 30}`, ann, "Origin", base); a.status != 204 {
		t.Errorf("POST from the same origin: %v", a)
	}
	// The session survived the cross-origin logout.
	if a := request(t, nil, "GET", base+"/api/session", "", ann); a.status != 200 {
		t.Errorf("session after a cross-origin logout: %v", a)
	}
	// A WebSocket with a session from another origin: 403.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/live", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"http://evil.example"}, "Cookie": {dashboard.SessionCookie + "=" + ann}},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin upgrade: %v %v", err, resp)
	}
	// Without users too.
	_, _, url := liveServer(t)
	if a := request(t, nil, "POST", url+"/api/values/fan.temp", `{"value": 30}`, "", evil...); a.status != 403 {
		t.Errorf("POST from another origin without users: %v", a)
	}
}

// dialAs opens the WebSocket with a session cookie.
func dialAs(t *testing.T, base, cookie string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/api/live", &websocket.DialOptions{
		HTTPHeader: http.Header{"Cookie": {dashboard.SessionCookie + "=" + cookie}},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return &wsClient{t: t, conn: conn, values: map[string]any{}, cat: map[string]ipc.Description{}}
}

// waitClosed reads until the server closes the connection, within d, and
// returns the close status and reason.
func waitClosed(t *testing.T, c *wsClient, d time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		_, _, err := c.conn.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("waiting for the close: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// TestSessionExpiry: at the end of its lifetime, a session's WebSocket is
// closed with 4001 and the API answers 401.
func TestSessionExpiry(t *testing.T) {
	const lifetime = 500 * time.Millisecond
	base, _ := authServer(t, dashboard.SessionLifetime(lifetime))
	start := time.Now()
	ann := login(t, base, "ann")
	c := dialAs(t, base, ann)
	code, reason := waitClosed(t, c, 10*time.Second)
	if code != dashboard.StatusSessionExpired || reason != "session expired" {
		t.Fatalf("closed with %d %q", code, reason)
	}
	if since := time.Since(start); since < lifetime {
		t.Fatalf("closed after %v, before the lifetime", since)
	}
	if a := request(t, nil, "GET", base+"/api/catalogue", "", ann); a.status != 401 {
		t.Fatalf("catalogue after expiry: %v", a)
	}
	if _, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/api/live", &websocket.DialOptions{
		HTTPHeader: http.Header{"Cookie": {dashboard.SessionCookie + "=" + ann}},
	}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("WebSocket after expiry: %v %v", err, resp)
	}
}

// TestLogoutClosesLive: a logout closes the session's WebSockets (4001),
// not those of other sessions.
func TestLogoutClosesLive(t *testing.T) {
	base, _ := authServer(t)
	ann, ann2 := login(t, base, "ann"), login(t, base, "ann")
	c, c2 := dialAs(t, base, ann), dialAs(t, base, ann2)
	c.until(5*time.Second, "catalogue", func(m msg) bool { return m.T == "catalogue" })
	if a := request(t, nil, "POST", base+"/api/logout", "", ann); a.status != 204 {
		t.Fatal(a)
	}
	if code, reason := waitClosed(t, c, 10*time.Second); code != 4001 || reason != "session ended" {
		t.Fatalf("closed with %d %q", code, reason)
	}
	c2.send(`{"t":"call","ref":1,"id":"fan.activate","args":[true]}`)
	if m := c2.result(1); m.Error != "" {
		t.Fatalf("the other session's call: %+v", m)
	}
}

// TestGroupsREST: each user reads and writes what its groups let it.
func TestGroupsREST(t *testing.T) {
	base, _ := authServer(t)
	ann, bob, root := login(t, base, "ann"), login(t, base, "bob"), login(t, base, "root")

	ids := func(cookie string) []string {
		var cat []ipc.Description
		request(t, nil, "GET", base+"/api/catalogue", "", cookie).json(t, &cat)
		var out []string
		for _, d := range cat {
			if strings.HasPrefix(d.ID, "home.") {
				out = append(out, d.ID)
			}
		}
		return out
	}
	valueIDs := func(cookie string) []string {
		var vs []value
		request(t, nil, "GET", base+"/api/values", "", cookie).json(t, &vs)
		var out []string
		for _, v := range vs {
			if strings.HasPrefix(v.ID, "home.") {
				out = append(out, v.ID)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, cookie string
		want         []string
	}{
		{"ann", ann, []string{"home.heat", "home.lamp", "home.marker", "home.temp", "home.tick"}},
		{"bob", bob, []string{"home.lamp", "home.marker", "home.tick"}},
		{"root", root, []string{"home.door", "home.heat", "home.lamp", "home.marker", "home.temp", "home.tick"}},
	} {
		if got := ids(tc.cookie); !slices.Equal(got, tc.want) {
			t.Errorf("%s's catalogue: %v; want %v", tc.name, got, tc.want)
		}
		wantValues := slices.DeleteFunc(slices.Clone(tc.want), func(id string) bool { return id == "home.tick" })
		if got := valueIDs(tc.cookie); !slices.Equal(got, wantValues) {
			t.Errorf("%s's values: %v; want %v", tc.name, got, wantValues)
		}
	}

	// Reads of what a user may not read: 403, naming the user and the id.
	for _, path := range []string{"/api/values/home.door", "/api/history/home.door"} {
		a := request(t, nil, "GET", base+path, "", ann)
		var eb errorBody
		if a.json(t, &eb); a.status != 403 || !strings.Contains(eb.Error, `"ann"`) || !strings.Contains(eb.Error, `"home.door"`) {
			t.Errorf("ann GET %s: %v", path, a)
		}
	}
	if a := request(t, nil, "GET", base+"/api/history/home.temp", "", ann); a.status != 200 {
		t.Errorf("ann's history of home.temp: %v", a)
	}
	if a := request(t, nil, "GET", base+"/api/values/no.such", "", root); a.status != 404 {
		t.Errorf("an unknown id: %v", a)
	}

	// Writes: ann reads home.heat but may not write it; root may.
	a := request(t, nil, "POST", base+"/api/values/home.heat", `{"value": 22}`, ann)
	var eb errorBody
	if a.json(t, &eb); a.status != 403 || eb.Error != `kervi: dashboard: forbidden: user "ann" may not write "home.heat"` {
		t.Errorf("ann sets home.heat: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/values/home.heat", `{"value": 22}`, root); a.status != 204 {
		t.Errorf("root sets home.heat: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/values/home.temp", `{"value": 22}`, bob); a.status != 403 {
		t.Errorf("bob sets home.temp: %v", a)
	}
	// An id the catalogue does not hold: who may write it is unknown, so
	// nobody may; the dashboard answers 404 without asking the bus.
	for _, path := range []string{"/api/values/no.such", "/api/actions/no.such"} {
		a := request(t, nil, "POST", base+path, `{"value": 1}`, root)
		var eb errorBody
		if a.json(t, &eb); a.status != 404 || !strings.Contains(eb.Error, "no.such: no such component") {
			t.Errorf("root POST %s: %v", path, a)
		}
	}
	// Open components: everyone.
	if a := request(t, nil, "POST", base+"/api/actions/fan.activate", `{"args":[true]}`, bob); a.status != 200 {
		t.Errorf("bob calls fan.activate: %v", a)
	}
	// kervi.*: read by all, written by none.
	// (There is no kervi parent on an ipctest hub: the call is made, and
	// answers that nobody owns kervi.modules; TestUsersApp has them.)
	if a := request(t, nil, "GET", base+"/api/modules", "", bob); a.status == 401 || a.status == 403 {
		t.Errorf("bob's modules: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/actions/kervi.modules", "", root); a.status != 403 {
		t.Errorf("root calls kervi.modules: %v", a)
	}
}

// sawFilter reads a client's messages and fails the test if one of them
// carries an id of forbidden.
type sawFilter struct {
	*wsClient
	forbidden []string
}

func (c sawFilter) until(d time.Duration, what string, ok func(m msg) bool) {
	c.t.Helper()
	c.wsClient.until(d, what, func(m msg) bool {
		for _, id := range c.forbidden {
			bad := m.Entry.ID == id
			for _, e := range m.Entries {
				bad = bad || e.ID == id
			}
			for _, v := range m.Values {
				bad = bad || v.ID == id
			}
			for _, d := range m.Layout.Dashboards {
				bad = bad || slices.Contains(ids(d.Header), id) || slices.Contains(ids(d.Footer), id)
				for _, p := range d.Panels {
					bad = bad || slices.Contains(ids(p.Widgets), id)
				}
			}
			if bad {
				c.t.Fatalf("sent %s: %+v", id, m)
			}
		}
		return ok(m)
	})
}

// TestGroupsLive: the WebSocket sends a user only what the user may read,
// also after an announcement takes an id away, and refuses writes.
func TestGroupsLive(t *testing.T) {
	base, h := authServer(t)
	bus, err := h.Connect("tester")
	if err != nil {
		t.Fatal(err)
	}
	bob := sawFilter{dialAs(t, base, login(t, base, "bob")), []string{"home.temp", "home.heat", "home.door", "a.lights"}}
	root := dialAs(t, base, login(t, base, "root"))
	bob.until(5*time.Second, "bob's catalogue", func(msg) bool {
		_, lamp := bob.cat["home.lamp"]
		return lamp && bob.values["home.lamp"] == 0.0
	})
	root.until(5*time.Second, "root's catalogue", func(msg) bool {
		_, door := root.cat["home.door"]
		return door && root.values["home.door"] == false
	})

	tick := func(n float64) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := bus.Call(ctx, "home.tick", n); err != nil {
			t.Fatal(err)
		}
	}
	tick(1)
	root.until(5*time.Second, "root sees the tick", func(msg) bool { return root.values["home.door"] == true && root.values["home.marker"] == 1.0 })
	bob.until(5*time.Second, "bob sees the tick", func(msg) bool { return bob.values["home.lamp"] == 1.0 && bob.values["home.marker"] == 1.0 })

	// A module announced later declares the panel "lights" for admin:
	// bob is told that home.lamp is gone, and is sent no more of it.
	if _, err := h.Module("lights", lightsSetup); err != nil {
		t.Fatal(err)
	}
	bob.forbidden = append(bob.forbidden, "home.lamp")
	bob.until(5*time.Second, "home.lamp retired for bob", func(m msg) bool {
		if m.T == "retire" && m.ID == "home.lamp" {
			return true
		}
		return false
	})
	bob.until(5*time.Second, "bob's layout without home.lamp", func(m msg) bool { return m.T == "layout" })
	root.until(5*time.Second, "root sees a.lights", func(msg) bool { _, ok := root.cat["a.lights"]; return ok })
	tick(2)
	// home.marker changes after home.lamp: when bob has it, a home.lamp
	// sent to bob would have come.
	bob.until(5*time.Second, "bob's marker", func(msg) bool { return bob.values["home.marker"] == 2.0 })
	root.until(5*time.Second, "root's lamp", func(msg) bool { return root.values["home.lamp"] == 2.0 && root.values["home.marker"] == 2.0 })

	// Writes over the WebSocket: refused with 403 for bob, done for root.
	bob.send(`{"t":"set","ref":1,"id":"home.heat","value":21}`)
	if m := bob.result(1); m.Status != 403 || !strings.Contains(m.Error, `user "bob" may not write "home.heat"`) {
		t.Fatalf("bob's set: %+v", m)
	}
	bob.send(`{"t":"call","ref":2,"id":"kervi.modules"}`)
	if m := bob.result(2); m.Status != 403 {
		t.Fatalf("bob's call of kervi.modules: %+v", m)
	}
	root.send(`{"t":"set","ref":3,"id":"home.heat","value":21}`)
	if m := root.result(3); m.Error != "" {
		t.Fatalf("root's set: %+v", m)
	}
	root.send(`{"t":"call","ref":4,"id":"no.such"}`)
	if m := root.result(4); m.Status != 404 || !strings.Contains(m.Error, "no.such: no such component") {
		t.Fatalf("root's call of an id the catalogue does not hold: %+v", m)
	}

	// The module that declared the panel restarts without it: home.lamp
	// comes back to bob, entry and value.
	if err := h.Stop("lights"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Module("lights", func(context.Context, *ipc.Bus) error { return nil }); err != nil {
		t.Fatal(err)
	}
	bob.forbidden = slices.DeleteFunc(bob.forbidden, func(id string) bool { return id == "home.lamp" })
	lampBack := false
	bob.until(5*time.Second, "home.lamp back for bob", func(m msg) bool {
		if m.T == "layout" {
			for _, d := range m.Layout.Dashboards {
				for _, p := range d.Panels {
					lampBack = lampBack || slices.Contains(ids(p.Widgets), "home.lamp")
				}
			}
		}
		_, ok := bob.cat["home.lamp"]
		return ok && bob.values["home.lamp"] == 2.0 && lampBack
	})

	// A client that connects now gets the filtered catalogue too.
	late := sawFilter{dialAs(t, base, login(t, base, "bob")), []string{"home.temp", "home.heat", "home.door"}}
	late.until(5*time.Second, "late catalogue", func(m msg) bool { return m.T == "catalogue" })
	late.until(5*time.Second, "late values", func(msg) bool { return late.values["home.marker"] == 2.0 })
}

// TestUsersOption: Users refuses what it cannot use, naming the user.
func TestUsersOption(t *testing.T) {
	h := ipctest.New()
	defer h.Close()
	bus, err := h.Connect("x")
	if err != nil {
		t.Fatal(err)
	}
	good := testUsers()[0]
	for _, tc := range []struct {
		opt  dashboard.Option
		want string
	}{
		{dashboard.Users(), "no user given"},
		{dashboard.Users(dashboard.User{PasswordHash: good.PasswordHash}), "user 0 has no name"},
		{dashboard.Users(good, good), `user "ann" given twice`},
		{dashboard.Users(dashboard.User{Name: "cat", PasswordHash: "secret"}), `user "cat": PasswordHash is not a bcrypt hash`},
		{dashboard.Users(dashboard.User{Name: "cat", PasswordHash: good.PasswordHash, Groups: []string{""}}), `user "cat": empty group name`},
		{dashboard.Users(dashboard.User{Name: " cat", PasswordHash: good.PasswordHash}), `user " cat": name begins or ends with a space`},
		{dashboard.SessionLifetime(0), "SessionLifetime"},
		{dashboard.MaxSessions(0), "MaxSessions"},
		{dashboard.LoginRateLimit(0, time.Second), "LoginRateLimit"},
		{dashboard.TLS("", "key.pem"), "TLS"},
	} {
		s, err := dashboard.New(bus, tc.opt)
		if err == nil {
			s.Close()
			t.Errorf("accepted; want %q", tc.want)
			continue
		}
		if !errors.Is(err, dashboard.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q; want %q", err, tc.want)
		}
	}
	// Users given in two options add up, and a duplicate across them is
	// refused.
	if s, err := dashboard.New(bus, dashboard.Users(testUsers()[0]), dashboard.Users(testUsers()[1])); err != nil {
		t.Error(err)
	} else {
		s.Close()
	}
	if _, err := dashboard.New(bus, dashboard.Users(testUsers()[0]), dashboard.Users(testUsers()[0])); err == nil || !strings.Contains(err.Error(), `"ann" given twice`) {
		t.Errorf("duplicate across options: %v", err)
	}

	// HashPassword makes what Users takes, and refuses an empty password.
	hash, err := dashboard.HashPassword("secret")
	if err != nil || !strings.HasPrefix(hash, "$2") || bcrypt.CompareHashAndPassword([]byte(hash), []byte("secret")) != nil {
		t.Fatalf("HashPassword: %q %v", hash, err)
	}
	if _, err := dashboard.HashPassword(""); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := dashboard.HashPassword(strings.Repeat("x", 73)); err == nil {
		t.Error("a password longer than 72 bytes hashed")
	}
}

// TestGroupsLayout: the layout holds, for each user, only the widgets the
// user may read, and no panel left empty; over the WebSocket too.
func TestGroupsLayout(t *testing.T) {
	base, _ := authServer(t)
	// panels returns "dashboard/panel:id,id" for each panel.
	panels := func(l layoutJSON) []string {
		var out []string
		for _, d := range l.Dashboards {
			for _, p := range d.Panels {
				var ids []string
				for _, w := range p.Widgets {
					if strings.HasPrefix(w.ID, "home.") {
						ids = append(ids, w.ID)
					}
				}
				if len(ids) > 0 {
					out = append(out, d.Name+"/"+p.Name+":"+strings.Join(ids, ","))
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"ann", []string{"main/climate:home.heat,home.temp", "main/lights:home.lamp", "all/home:home.heat,home.lamp,home.marker,home.temp,home.tick"}},
		{"bob", []string{"main/lights:home.lamp", "all/home:home.lamp,home.marker,home.tick"}},
		{"root", []string{"main/secret:home.door", "main/climate:home.heat,home.temp", "main/lights:home.lamp", "all/home:home.door,home.heat,home.lamp,home.marker,home.temp,home.tick"}},
	} {
		cookie := login(t, base, tc.name)
		var l layoutJSON
		a := request(t, nil, "GET", base+"/api/layout", "", cookie)
		if a.json(t, &l); a.status != 200 || !slices.Equal(panels(l), tc.want) {
			t.Errorf("%s's layout: %v; want %v (%v)", tc.name, panels(l), tc.want, a)
		}
		c := dialAs(t, base, cookie)
		m := c.until(5*time.Second, "layout message", func(m msg) bool { return m.T == "layout" })
		if !slices.Equal(panels(m.Layout), tc.want) {
			t.Errorf("%s's layout message: %v; want %v", tc.name, panels(m.Layout), tc.want)
		}
	}
	if a := request(t, nil, "GET", base+"/api/layout", "", ""); a.status != 401 {
		t.Errorf("layout without a session: %v", a)
	}
}

// TestUsersApp: users in an application of module processes, with the
// dashboard in its own process: logins, access by group over REST and the
// WebSocket, and kervi's own health and logs readable by every user.
func TestUsersApp(t *testing.T) {
	t.Setenv(envUsers, "1")
	_, base := startApp(t)

	if a := request(t, nil, "GET", base+"/api/catalogue", "", ""); a.status != 401 {
		t.Fatalf("catalogue without a session: %v", a)
	}
	if a, _ := loginAnswer(t, nil, base, "ann", "bob-pw"); a.status != 401 {
		t.Fatalf("wrong password: %v", a)
	}
	ann, bob, root := login(t, base, "ann"), login(t, base, "bob"), login(t, base, "root")

	eventually(t, 10*time.Second, "ann's catalogue", func() error {
		var cat []ipc.Description
		request(t, nil, "GET", base+"/api/catalogue", "", ann).json(t, &cat)
		seen := map[string]bool{}
		for _, d := range cat {
			seen[d.ID] = true
		}
		if !seen["home.temp"] || !seen["fan.temp"] || !seen["kervi.modules"] || !seen["kervi.log"] || seen["home.door"] {
			return fmt.Errorf("%d entries: home.temp %v, fan.temp %v, kervi.modules %v, kervi.log %v, home.door %v",
				len(cat), seen["home.temp"], seen["fan.temp"], seen["kervi.modules"], seen["kervi.log"], seen["home.door"])
		}
		return nil
	})
	var sts []map[string]any
	a := request(t, nil, "GET", base+"/api/modules", "", bob)
	if a.json(t, &sts); a.status != 200 || len(sts) < 4 {
		t.Fatalf("bob's modules: %v", a)
	}
	if a := request(t, nil, "GET", base+"/api/logs", "", bob); a.status != 200 {
		t.Fatalf("bob's logs: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/values/home.heat", `{"value": 25}`, ann); a.status != 403 || !strings.Contains(string(a.body), `user \"ann\" may not write \"home.heat\"`) {
		t.Fatalf("ann sets home.heat: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/values/home.heat", `{"value": 25}`, root); a.status != 204 {
		t.Fatalf("root sets home.heat: %v", a)
	}
	if a := request(t, nil, "POST", base+"/api/actions/kervi.modules", "", root); a.status != 403 {
		t.Fatalf("root calls kervi.modules: %v", a)
	}

	// Bob's WebSocket: never home.temp, home.heat or home.door, while
	// root's calls change them.
	bc := sawFilter{dialAs(t, base, bob), []string{"home.temp", "home.heat", "home.door"}}
	rc := dialAs(t, base, root)
	bc.until(10*time.Second, "bob's catalogue", func(msg) bool { _, ok := bc.cat["home.marker"]; return ok })
	rc.send(`{"t":"call","ref":1,"id":"home.tick","args":[5]}`)
	if m := rc.result(1); m.Error != "" {
		t.Fatalf("root's call: %+v", m)
	}
	rc.until(10*time.Second, "root's door", func(msg) bool { return rc.values["home.door"] == true })
	bc.until(10*time.Second, "bob's marker", func(msg) bool { return bc.values["home.marker"] == 5.0 })
	bc.send(`{"t":"set","ref":2,"id":"home.heat","value":20}`)
	if m := bc.result(2); m.Status != 403 {
		t.Fatalf("bob's set: %+v", m)
	}
	if _, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/api/live", nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("WebSocket without a session: %v %v", err, resp)
	}
}
