//go:build kervi_nonodes

package kervi

import (
	"context"
	"errors"
)

// Built with the tag kervi_nonodes: the program runs on one machine and
// links no NATS (about 14 MB less on a Pi).

// cluster is nothing: there are no nodes.
type cluster struct{}

func (a *Application) startCluster(context.Context) (*cluster, error) {
	if a.nodes.on {
		return nil, errors.New("this program was built with the tag kervi_nonodes: it cannot run on several nodes (kervi.WithNodes)")
	}
	return nil, nil
}

func (c *cluster) leave() {}

func (c *cluster) stop() {}
