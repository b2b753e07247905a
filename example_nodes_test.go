package kervi_test

import (
	"context"
	"log"
	"time"

	kervi "github.com/kervi/kervi-go"
	"github.com/kervi/kervi-go/actions"
	"github.com/kervi/kervi-go/ipc"
	_ "github.com/kervi/kervi-go/nodes/nats" // nodes join over NATS
	"github.com/kervi/kervi-go/values"
)

// An application on two machines: module "bench" runs on the Pi "pi1",
// module "house" on the main node. The same program runs on both: the
// main node with no more configuration (it embeds the NATS server and
// pairs nodes in ./kervi-nodes), pi1 with KERVI_JOIN=pi1.join, the join
// file that `go run github.com/kervi/kervi-go/nodes/cmd/kervi-node -app
// greenhouse add pi1 -url tls://house.local:4222` wrote on main. House
// follows the bench's soil moisture and calls its pump by id, across the
// machines, as on one.
func ExampleWithNodes() {
	bench := kervi.Module{Name: "bench", Setup: func(ctx context.Context, b *ipc.Bus) error {
		values.NewNumber(b, "bench.moisture", "Soil moisture", values.Unit("%"), values.Range(0, 100), values.Output())
		actions.Register(b, "bench.pump", func(ctx context.Context, ml float64) error { return nil })
		return nil
	}}
	house := kervi.Module{Name: "house", Setup: func(ctx context.Context, b *ipc.Bus) error {
		_, err := b.Subscribe("bench.moisture", func(e ipc.Event) {
			if e.Value.Number() < 20 {
				go func() {
					cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					if _, err := b.Call(cctx, "bench.pump", 50.0); err != nil {
						log.Print(err) // ipc.ErrOwnerGone, naming pi1, while it is offline
					}
				}()
			}
		})
		return err
	}}
	app, err := kervi.NewApplication([]kervi.Module{house, bench},
		kervi.WithName("greenhouse"),
		kervi.WithNodes(map[string][]string{"pi1": {"bench"}}),
	)
	if err != nil {
		log.Fatal(err)
	}
	app.Main()
}
