package nodes_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kervi/kervi-go/nodes"
)

// On main: pair node pi1 and write its join file; on pi1: load it.
func Example() {
	tmp, err := os.MkdirTemp("", "kervi-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	dir, err := nodes.OpenDir(filepath.Join(tmp, nodes.DefaultDir), "greenhouse")
	if err != nil {
		log.Fatal(err)
	}
	join, err := dir.Add("pi1", []string{"tls://main.local:4222"})
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(tmp, "pi1.join")
	if err := join.Save(path); err != nil {
		log.Fatal(err)
	}

	loaded, err := nodes.LoadJoin(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(loaded.App, loaded.Node, loaded.URLs, len(dir.Nodes()))
	// Output: greenhouse pi1 [tls://main.local:4222] 1
}
