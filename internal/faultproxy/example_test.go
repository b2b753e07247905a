package faultproxy_test

import (
	"context"
	"time"

	"github.com/kervi/kervi-go/internal/faultproxy"
)

// A test puts the proxy between a node and the NATS server, dials
// p.URL() instead of the server's URL, and injects faults.
func Example() {
	p, err := faultproxy.New("127.0.0.1:4222") // the NATS server's address
	if err != nil {
		panic(err)
	}
	defer p.Close()
	// Connect the client to p.URL() with nats.IgnoreDiscoveredServers().

	p.SetMode(faultproxy.Blackhole) // a pulled cable: the client's pings go unanswered
	p.SetMode(faultproxy.Pass)      // the cable is back: surviving connections carry bytes again
	p.SetMode(faultproxy.Reset)     // every connection gets a TCP RST

	// An unstable link: 2 s up, 500 ms down, until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go p.Flap(ctx, faultproxy.Blackhole, 2*time.Second, 500*time.Millisecond)
}
