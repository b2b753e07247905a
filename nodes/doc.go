// Package nodes pairs the machines ("nodes") of a kervi application that
// runs on several machines over NATS.
//
// The main node keeps a pairing directory ([Dir]): a certificate authority
// for its TLS listener, its own NKEY identity and the public key of every
// node allowed in, in the manner of an authorized_keys file. [Dir.Add] makes
// a new node identity and returns its [Join]: the file the other machine
// loads with [LoadJoin] to dial main. A join file holds the node's secret
// seed, so it is written readable by its owner only, and [LoadJoin] refuses
// one that group or others can read.
//
// A site with several machines behind one uplink has a leaf hub:
// [Dir.AddLeaf] pairs it with the site's other nodes, its members, added
// before with the hub's URL. The hub's join carries a [Leaf]: the members'
// public keys and a server certificate signed by main's CA, so the hub's
// NATS server, a leaf of main's, lets the members in over TLS that their
// join files trust. Main gives the hub's leaf connection its own and its
// members' permissions.
//
// The command nodes/cmd/kervi-node does the same from a shell.
package nodes
