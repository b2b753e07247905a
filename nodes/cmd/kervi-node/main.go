// Command kervi-node pairs the machines of a kervi application that runs on
// several machines. Run it on the main node, next to its pairing directory:
//
//	kervi-node [-dir kervi-nodes] -app NAME add NODE -url tls://host:4222 [-url ...] [-o NODE.join]
//	kervi-node [-dir kervi-nodes] -app NAME add-leaf NODE -member NODE [-member ...] -url tls://main:7422 [-host shed.local] [-o NODE.join]
//	kervi-node [-dir kervi-nodes] -app NAME list
//	kervi-node [-dir kervi-nodes] -app NAME forget NODE
//
// add makes the node's key, records its public half in the directory and
// writes NODE.join (mode 0600), which the node loads to dial main: copy it
// to that machine only. add-leaf pairs a site's leaf hub: a machine whose
// NATS server dials main's leaf listener (-url) and serves the site's other
// nodes, its members, added before with the hub's URL (add pi2 -url
// tls://shed.local:4222); its join file carries a server certificate for
// the -host names (default NODE.local). list shows the paired nodes;
// forget removes one.
// Main's server reads the list when it starts.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kervi/kervi-go/nodes"
)

const usage = `usage:
  kervi-node [-dir kervi-nodes] -app NAME add NODE -url tls://host:4222 [-url ...] [-o NODE.join]
  kervi-node [-dir kervi-nodes] -app NAME add-leaf NODE -member NODE [-member ...] -url tls://main:7422 [-host shed.local] [-o NODE.join]
  kervi-node [-dir kervi-nodes] -app NAME list
  kervi-node [-dir kervi-nodes] -app NAME forget NODE`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kervi-node:", err)
		os.Exit(2)
	}
}

// errUsage is returned for a malformed command line; its message ends with
// the usage text.
var errUsage = errors.New(usage)

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%s\n%w", fmt.Sprintf(format, a...), errUsage)
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kervi-node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", nodes.DefaultDir, "the pairing directory")
	app := fs.String("app", "", "the application's name")
	if err := fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	if *app == "" {
		return usageErr("-app is required")
	}
	if fs.NArg() == 0 {
		return usageErr("no command: add, add-leaf, list or forget")
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "add":
		return add(*dir, *app, rest, stdout)
	case "add-leaf":
		return addLeaf(*dir, *app, rest, stdout)
	case "list":
		if len(rest) != 0 {
			return usageErr("list takes no argument")
		}
		d, err := nodes.OpenDir(*dir, *app)
		if err != nil {
			return err
		}
		return list(d, stdout)
	case "forget":
		if len(rest) != 1 {
			return usageErr("forget takes one node name")
		}
		d, err := nodes.OpenDir(*dir, *app)
		if err != nil {
			return err
		}
		return forget(d, rest[0], stdout)
	default:
		return usageErr("unknown command %q: add, add-leaf, list or forget", cmd)
	}
}

// forget forgets node. A site's member is refused by main's server only:
// its hub's join file still lists its key, so the hub's server lets it in,
// and its calls and control requests still cross the hub's leaf connection
// (which may publish any node's requests); the hub must be paired again.
func forget(d *nodes.Dir, node string, stdout io.Writer) error {
	hub := ""
	for _, n := range d.Nodes() {
		if slices.Contains(n.Members, node) {
			hub = n.Name
		}
	}
	if err := d.Forget(node); err != nil {
		return err
	}
	if hub == "" {
		_, err := fmt.Fprintf(stdout, "Forgot node %s of %s. Restart the main node so that its server refuses %s.\n", node, d.App(), node)
		return err
	}
	_, err := fmt.Fprintf(stdout, `Forgot node %[1]s of %[2]s, a member of leaf hub %[3]s.
Restarting the main node is not enough: %[3]s's join file still lists %[1]s, so
the site's server lets it in, and its calls still reach every node through
%[3]s's leaf connection. Pair %[3]s again without %[1]s:
  kervi-node -app %[2]s forget %[3]s
  kervi-node -app %[2]s add-leaf %[3]s -member ... -url ...
then replace %[3]s's join file, and restart %[3]s and the main node.
`, node, d.App(), hub)
	return err
}

// urlList is a repeatable -url flag.
type urlList []string

func (u *urlList) String() string     { return strings.Join(*u, ",") }
func (u *urlList) Set(s string) error { *u = append(*u, s); return nil }

func add(dir, app string, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("add", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	var urls urlList
	fset.Var(&urls, "url", "main's URL, nats:// or tls:// (repeat for several)")
	out := fset.String("o", "", "the join file to write (default NODE.join)")
	node, err := nodeArg(fset, "add", args)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return usageErr("add: at least one -url of the main node is required")
	}
	j, err := pair(dir, app, "node "+node, node, out, func(d *nodes.Dir) (*nodes.Join, error) { return d.Add(node, urls) })
	if err != nil {
		return err
	}
	pub, err := j.PublicKey()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, `Added node %[1]s to %[2]s (public key %[3]s) in %[4]s.
Wrote %[5]s (mode 0600). It holds the node's secret key:
  1. copy it to the machine of node %[1]s only, e.g. scp %[5]s that-machine:
  2. delete this copy;
  3. restart the main node so that its server accepts %[1]s.
`, node, app, pub, dir, *out)
	return err
}

func list(d *nodes.Dir, stdout io.Writer) error {
	ns := d.Nodes()
	if len(ns) == 0 {
		_, err := fmt.Fprintf(stdout, "No node paired with %s in %s.\n", d.App(), d.Path())
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPUBLIC KEY\tADDED\tLEAF HUB OF")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.PublicKey, n.Added.Local().Format(time.DateTime), strings.Join(n.Members, ","))
	}
	return tw.Flush()
}

func addLeaf(dir, app string, args []string, stdout io.Writer) error {
	fset := flag.NewFlagSet("add-leaf", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	var urls, members, hosts urlList
	fset.Var(&urls, "url", "main's leaf URL, nats:// or tls:// (repeat for several)")
	fset.Var(&members, "member", "a node of the site, added already with the hub's URL (repeat)")
	fset.Var(&hosts, "host", "a name or address of the hub on the site's network (repeat; default NODE.local)")
	out := fset.String("o", "", "the join file to write (default NODE.join)")
	node, err := nodeArg(fset, "add-leaf", args)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return usageErr("add-leaf: at least one -url of the main node's leaf listener is required")
	}
	if len(members) == 0 {
		return usageErr("add-leaf: at least one -member is required")
	}
	if _, err := pair(dir, app, "leaf hub "+node, node, out, func(d *nodes.Dir) (*nodes.Join, error) {
		return d.AddLeaf(node, members, urls, hosts)
	}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, `Added leaf hub %[1]s of %[2]s for %[3]s in %[4]s.
Wrote %[5]s (mode 0600). It holds the hub's secret key and its server's key:
  1. copy it to the machine of node %[1]s only, and delete this copy;
  2. the members' join files must name the hub's URL (such as tls://%[6]s:4222);
  3. restart the main node, with its leaf listener on (kervi.WithNATSLeafListen).
`, node, app, strings.Join(members, ", "), dir, *out, hostOr(hosts, node))
	return err
}

// nodeArg parses a command's flags and its one node name, which may come
// before, between or after the flags.
func nodeArg(fset *flag.FlagSet, cmd string, args []string) (string, error) {
	var names []string
	for {
		if err := fset.Parse(args); err != nil {
			return "", usageErr("%s: %v", cmd, err)
		}
		if fset.NArg() == 0 {
			break
		}
		names = append(names, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(names) != 1 {
		return "", usageErr("%s takes one node name, got %d", cmd, len(names))
	}
	return names[0], nil
}

// pair pairs node (what names it in errors) with add, and writes its join
// file to *out (default NODE.join), which must not exist; if it cannot be
// written, the pairing is undone.
func pair(dir, app, what, node string, out *string, add func(*nodes.Dir) (*nodes.Join, error)) (*nodes.Join, error) {
	if *out == "" {
		*out = node + ".join"
	}
	if _, err := os.Lstat(*out); err == nil {
		return nil, fmt.Errorf("adding %s: %s exists: remove it or choose another file with -o", what, *out)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("adding %s: %w", what, err)
	}
	d, err := nodes.OpenDir(dir, app)
	if err != nil {
		return nil, err
	}
	j, err := add(d)
	if err != nil {
		return nil, err
	}
	if err := j.Save(*out); err != nil {
		if ferr := d.Forget(node); ferr != nil {
			return nil, fmt.Errorf("%w; and undoing the pairing: %w", err, ferr)
		}
		return nil, err
	}
	return j, nil
}

func hostOr(hosts []string, node string) string {
	if len(hosts) > 0 {
		return hosts[0]
	}
	return node + ".local"
}
