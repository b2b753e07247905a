package ipc_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kervi/kervi-go/ipc"
	"github.com/kervi/kervi-go/ipc/ipctest"
)

// connect connects a module to a test hub; in an application, kervi
// hands each module's setup its bus.
func connect(h *ipctest.Hub, module string) *ipc.Bus {
	b, err := h.Connect(module)
	if err != nil {
		panic(err)
	}
	return b
}

// A dashboard follows the catalogue of the application: every component,
// then each change.
func ExampleBus_FollowCatalogue() {
	hub := ipctest.New()
	defer hub.Close()
	greenhouse, dashboard := connect(hub, "greenhouse"), connect(hub, "dashboard")

	greenhouse.Announce(ipc.Description{ID: "climate", Kind: ipc.KindController, Name: "Climate"})
	greenhouse.RegisterValue(ipc.Description{ID: "climate.mode", Name: "Mode", Parent: "climate", Type: ipc.TypeEnum,
		Choices: []ipc.Choice{{Value: "auto", Text: "Automatic"}, {Value: "off", Text: "Off"}}},
		func(context.Context, ipc.Value) error { return nil })
	greenhouse.Flush(context.Background())

	synced := make(chan struct{})
	dashboard.FollowCatalogue(func(c ipc.CatalogueChange) {
		d := c.Description
		switch c.Kind {
		case ipc.ChangeAnnounced:
			var texts []string
			for _, ch := range d.Choices {
				texts = append(texts, ch.Text)
			}
			fmt.Printf("%s: %s %q of %s, parent %q %v\n", d.ID, d.Kind, d.Name, d.Module, d.Parent, texts)
		case ipc.ChangeSynced:
			fmt.Println("synced")
			close(synced)
		case ipc.ChangeRetired:
			fmt.Println(d.ID, "retired")
		}
	})
	<-synced
	// Output:
	// climate: controller "Climate" of greenhouse, parent "" []
	// climate.mode: value "Mode" of greenhouse, parent "climate" [Automatic Off]
	// synced
}

// A dashboard follows every value of the greenhouse module, wherever it
// lives, latest content only.
func ExampleBus_SubscribePattern() {
	hub := ipctest.New()
	defer hub.Close()
	greenhouse, dashboard := connect(hub, "greenhouse"), connect(hub, "dashboard")

	var pubs []*ipc.Publisher
	for _, id := range []string{"greenhouse.temp", "greenhouse.humidity"} {
		p, _ := greenhouse.RegisterValue(ipc.Description{ID: id, Type: ipc.TypeNumber}, nil)
		p.Publish(ipc.NumberValue(float64(len(id))), time.Now())
		pubs = append(pubs, p)
	}
	greenhouse.Flush(context.Background())

	seen := make(chan string)
	dashboard.SubscribePattern("greenhouse.>", func(ev ipc.Event) {
		seen <- fmt.Sprintf("%s = %v", ev.ID, ev.Value)
	}, ipc.OwnedBy("greenhouse"), ipc.LatestOnly())
	fmt.Println(<-seen) // the current content of each, first
	fmt.Println(<-seen)
	pubs[0].Publish(ipc.NumberValue(21.5), time.Now())
	fmt.Println(<-seen)

	_, err := dashboard.SubscribePattern("greenhouse.*.>.x", func(ipc.Event) {})
	fmt.Println(strings.TrimPrefix(err.Error(), "kervi: "))
	// Output:
	// greenhouse.humidity = 19
	// greenhouse.temp = 15
	// greenhouse.temp = 21.5
	// invalid pattern "greenhouse.*.>.x": token 3 ">": ">" stands for the rest of an id and must be the last token
}

// Catalogue reads the catalogue once.
func ExampleBus_Catalogue() {
	hub := ipctest.New()
	defer hub.Close()
	sensors, main := connect(hub, "sensors"), connect(hub, "app")
	sensors.Announce(ipc.Description{ID: "air", Kind: ipc.KindSensor, Name: "Air", Unit: "°C"})
	sensors.RegisterValue(ipc.Description{ID: "air.temp", Name: "Air temp", Parent: "air", Type: ipc.TypeNumber, Unit: "°C"}, nil)
	sensors.Flush(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries, err := main.Catalogue(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range entries {
		fmt.Printf("%s %s %s in %s\n", d.Kind, d.ID, d.Unit, d.Module)
	}
	// Output:
	// sensor air °C in sensors
	// value air.temp °C in sensors
}
