// Package layout places the components of a kervi application on dashboards,
// from Go, in whichever module creates them: the Go side of Kervi's
// link_to_dashboard.
//
// A placement names a dashboard, a panel of it and the widget that shows the
// component there, with the widget's options:
//
//	speed := values.NewNumber(bus, "fan.speed", "Fan speed", values.Range(0, 100),
//		layout.Value(layout.Placement{Dashboard: "main", Panel: "climate", Widget: "gauge"}))
//	actions.Register(bus, "fan.boost", fan.Boost,
//		layout.Action(layout.Placement{Panel: layout.Header, Widget: "button"}))
//
// Value, Action, Controller and Sensor turn placements into the options of
// the component's constructor. They store the placements, JSON-encoded
// (Encode), under the key MetaKey ("dashboard") of the component's metadata
// (ipc.Description.Meta): the layout travels with the component's
// description in the application's catalogue, so a dashboard in any process
// sees the components of every module, also after a module restarts. A
// component may be placed on several dashboards and panels: give Value
// (and the others) several placements, in one call; a second call replaces
// the first.
//
// # Dashboards and panels
//
// Dashboards and panels are made on first use: a placement on a dashboard
// or a panel that nobody declared creates it, titled with its name. An
// empty Dashboard is DefaultDashboard; an empty Panel is the dashboard's
// untitled DefaultPanel. The panels Header and Footer are the dashboard's
// header and footer areas, for small widgets (a switch, a value).
//
// A placement may declare its dashboard (DashboardSpec) and its panel
// (PanelSpec): title, order and width. Declare them in one place, with any
// one component. When two components declare the same dashboard or panel
// differently, the first declaration wins and the other is a Conflict,
// which the dashboard logs once. Merge builds the dashboards from the
// catalogue by this rule; it is what a dashboard uses.
//
// # Widgets
//
// Widget names the kind of widget, such as "gauge" or "switch" (see the
// Widget constants); an empty Widget lets the dashboard choose from the
// value's type, unit and range. Options are the widget's options, as text,
// such as {"color": "red"}; what a widget understands is the dashboard's.
//
// # Access by group
//
// When the dashboard has users (dashboard.Users), Placement.Read and
// Placement.Write, and Spec.Read and Spec.Write of dashboards and panels,
// limit who may read and write a component; each is a list of groups, and
// an empty list lets every user. A user may read a component if at least
// one of its placements lets them: the user is in one of the placement's
// Read groups (or it has none), and the same for the Read of the
// placement's panel and of its dashboard (as declared first; the header
// and footer have no Spec of their own). A user may write a component (set
// it, call it) if at least one of its placements lets them read it and, by
// the same rule, write it (Write of the placement, its panel and its
// dashboard). A component with no placements of its own follows those of
// its parent (ipc.Description.Parent: a controller's values, a sensor's
// dimensions), and until its parent is announced, it is readable by no
// user; one with none at all is readable and writable by every user. The
// application's own health and log values and actions (ids "kervi.*") are
// readable by every user and writable by none. Without users, everything
// is open to everyone.
//
//	layout.Value(layout.Placement{Panel: "heating", Read: []string{"family"}, Write: []string{"admin"}})
package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/controllers"
	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/sensors"
	"github.com/kervi/kervi-go/values"
)

// MetaKey is the key of ipc.Description.Meta that holds a component's
// placements.
const MetaKey = "dashboard"

// Names of dashboards and panels with a meaning of their own.
const (
	// DefaultDashboard is the dashboard of a placement with no Dashboard.
	DefaultDashboard = "main"
	// DefaultPanel is the panel of a placement with no Panel: the
	// dashboard's untitled panel.
	DefaultPanel = ""
	// Header is the dashboard's header area, for small widgets.
	Header = "header"
	// Footer is the dashboard's footer area, for small widgets.
	Footer = "footer"
)

// Kinds of widgets a dashboard knows. A Placement may name others; a
// dashboard shows a kind it does not know as WidgetValue.
const (
	WidgetValue       = "value"        // the content, with its unit
	WidgetGauge       = "gauge"        // a radial gauge; honours min and max
	WidgetRadialGauge = "radial_gauge" // same as WidgetGauge
	WidgetLinearGauge = "linear_gauge" // a bar; honours min and max
	WidgetSparkline   = "sparkline"    // a small chart of the recent past
	WidgetChart       = "chart"        // a chart with history
	WidgetSwitch      = "switch"       // a bool, or an action run while on
	WidgetButton      = "button"       // a push button: a bool, or an action
	WidgetSlider      = "slider"       // a number input within min and max
	WidgetNumber      = "number"       // a number entry
	WidgetText        = "text"         // a string
	WidgetSelect      = "select"       // an enum, as a dropdown
	WidgetButtons     = "buttons"      // an enum, as buttons
	WidgetColor       = "color"        // a color picker
	WidgetDateTime    = "datetime"     // a date and time
)

// Spec declares a dashboard or a panel.
type Spec struct {
	// Title is shown to people; empty means the name.
	Title string `json:"title,omitempty"`
	// Order sorts dashboards among dashboards and panels among the panels
	// of their dashboard, lowest first; equal orders keep the order in
	// which they were first used.
	Order int `json:"order,omitempty"`
	// Width is a panel's width in grid columns (a dashboard's: its number
	// of columns); 0 or less lets the dashboard choose.
	Width int `json:"width,omitempty"`
	// Read, if not empty, limits the dashboard or panel to the users of
	// these groups, when the dashboard has users: a component placed on
	// it is readable there only by them (see "Access by group").
	Read []string `json:"read,omitempty"`
	// Write, if not empty, limits the writes (sets and calls) through the
	// dashboard or panel to the users of these groups.
	Write []string `json:"write,omitempty"`
}

// Equal reports whether s and t declare the same: the same title, order,
// width and groups (in the same order).
func (s Spec) Equal(t Spec) bool {
	return s.Title == t.Title && s.Order == t.Order && s.Width == t.Width &&
		slices.Equal(s.Read, t.Read) && slices.Equal(s.Write, t.Write)
}

// Placement places a component on a panel of a dashboard.
type Placement struct {
	// Dashboard is the dashboard's name; empty means DefaultDashboard.
	Dashboard string `json:"dashboard,omitempty"`
	// Panel is the panel's name; empty means DefaultPanel. Header and
	// Footer are the dashboard's header and footer areas.
	Panel string `json:"panel,omitempty"`
	// Widget is the kind of widget, such as WidgetGauge; empty lets the
	// dashboard choose.
	Widget string `json:"widget,omitempty"`
	// Order sorts the widgets of a panel, lowest first; equal orders keep
	// the order of the catalogue.
	Order int `json:"order,omitempty"`
	// Width is the widget's width in the panel's columns; 0 lets the
	// dashboard choose (also a negative width).
	Width int `json:"width,omitempty"`
	// Options are the widget's options, such as {"color": "red"}.
	Options map[string]string `json:"options,omitempty"`

	// Read, if not empty, limits this placement to the users of these
	// groups, when the dashboard has users (see "Access by group").
	Read []string `json:"read,omitempty"`
	// Write, if not empty, limits the writes (sets and calls) through this
	// placement to the users of these groups.
	Write []string `json:"write,omitempty"`

	// DashboardSpec, if not nil, declares the dashboard: the first
	// declaration wins.
	DashboardSpec *Spec `json:"dashboard_spec,omitempty"`
	// PanelSpec, if not nil, declares the panel: the first declaration
	// wins.
	PanelSpec *Spec `json:"panel_spec,omitempty"`
}

// normalized returns p with its defaults filled in.
func (p Placement) normalized() Placement {
	if p.Dashboard == "" {
		p.Dashboard = DefaultDashboard
	}
	return p
}

// ErrInvalid is matched (errors.Is) by the errors of Decode and Of for
// text that is not an encoding of placements.
var ErrInvalid = errors.New("layout: invalid placements")

// Encode returns the placements as the text stored under MetaKey: a JSON
// array of objects whose fields are named as Placement's json tags. Text
// that is not valid UTF-8 is encoded with U+FFFD in its place.
func Encode(ps ...Placement) string {
	if ps == nil {
		ps = []Placement{}
	}
	b, err := json.Marshal(ps)
	if err != nil { // cannot happen: a Placement is strings, ints and maps of strings
		panic(err)
	}
	return string(b)
}

// Decode returns the placements that Encode encoded into s, as they were
// given to Encode (with no defaults filled in). It fails (ErrInvalid) if s
// is not such an encoding.
func Decode(s string) ([]Placement, error) {
	var ps []Placement
	if err := json.Unmarshal([]byte(s), &ps); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return ps, nil
}

// Of returns the placements of the component d describes; none if it has
// none. It fails (ErrInvalid) if its metadata under MetaKey is not an
// encoding of placements; the error names the component.
func Of(d ipc.Description) ([]Placement, error) {
	s, ok := d.Meta[MetaKey]
	if !ok {
		return nil, nil
	}
	ps, err := Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", d.Kind, d.ID, err)
	}
	return ps, nil
}

// Value returns the option that places a value (values.NewNumber and the
// other constructors of package values) as ps say.
func Value(ps ...Placement) values.Option { return values.Meta(MetaKey, Encode(ps...)) }

// Action returns the option that places an action (actions.Register) as
// ps say.
func Action(ps ...Placement) actions.Option { return actions.Meta(MetaKey, Encode(ps...)) }

// Controller returns the option that places a controller
// (controllers.New) as ps say.
func Controller(ps ...Placement) controllers.Option {
	return controllers.Meta(MetaKey, Encode(ps...))
}

// Sensor returns the option that places a sensor (sensors.New) as ps say:
// for a sensor with several dimensions, its entry of kind ipc.KindSensor;
// for a sensor with one dimension, its value.
func Sensor(ps ...Placement) sensors.Option { return sensors.Meta(MetaKey, Encode(ps...)) }
